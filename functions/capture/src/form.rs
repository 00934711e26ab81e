//! `application/x-www-form-urlencoded` bodies and query strings, parsed strictly: percent-decoding
//! must give UTF-8, and a bounded number of fields is read. The first value of a repeated field
//! wins.

/// Fields read from one body or query string; more are refused.
pub const MAX_FIELDS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("the form is not valid UTF-8 once decoded")]
    NotUtf8,
    #[error("the form has too many fields")]
    TooManyFields,
}

/// A parsed form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form(Vec<(String, String)>);

fn decode(part: &[u8]) -> Result<String, FormError> {
    let plus_as_space: Vec<u8> = part
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_encoding::percent_decode(&plus_as_space)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| FormError::NotUtf8)
}

impl Form {
    pub fn parse(bytes: &[u8]) -> Result<Form, FormError> {
        let mut fields = Vec::new();
        for pair in bytes.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            if fields.len() == MAX_FIELDS {
                return Err(FormError::TooManyFields);
            }
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            fields.push((decode(name)?, decode(value)?));
        }
        Ok(Form(fields))
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_decoded() {
        let f = Form::parse(b"s=7&comment=caf%C3%A9+con+leche&via=button&s=9&flag").unwrap();
        assert_eq!(f.get("s"), Some("7"));
        assert_eq!(f.get("comment"), Some("café con leche"));
        assert_eq!(f.get("flag"), Some(""));
        assert_eq!(f.get("missing"), None);
        assert_eq!(Form::parse(b"").unwrap(), Form::default());
    }

    #[test]
    fn bad_forms_are_refused() {
        assert_eq!(Form::parse(b"s=%FF"), Err(FormError::NotUtf8));
        assert_eq!(Form::parse(&[b's', b'=', 0xC3]), Err(FormError::NotUtf8));
        let many = "a=1&".repeat(MAX_FIELDS + 1);
        assert_eq!(Form::parse(many.as_bytes()), Err(FormError::TooManyFields));
    }
}
