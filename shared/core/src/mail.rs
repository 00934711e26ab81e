//! Building complete MIME messages: multipart/alternative (plain text + HTML), optional inline
//! images (multipart/related, referenced as `cid:`), RFC 8058 unsubscribe headers, Message-ID and
//! Date. The same bytes go to SES (raw content) or to the local outbox.

use std::time::SystemTime;

use jiff::Timestamp;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};

use crate::ports::OutgoingEmail;
use crate::types::Email;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailBuildError {
    #[error("sender address {0:?} is not a mailbox")]
    BadSender(String),
    #[error("an email needs at least one recipient")]
    NoRecipient,
    #[error("could not build the message: {0}")]
    Build(String),
}

/// An image shown inline in the HTML part as `<img src="cid:{cid}">`.
#[derive(Debug, Clone)]
pub struct InlineImage {
    pub cid: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// What the reader sees.
#[derive(Debug, Clone, Default)]
pub struct Content {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub images: Vec<InlineImage>,
}

/// RFC 8058 one-click unsubscribe: `List-Unsubscribe: <https…>, <mailto…>` and
/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
#[derive(Debug, Clone)]
pub struct Unsubscribe {
    pub https: String,
    pub mailto: String,
}

/// Who and when.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    /// `"Name <address>"` or a bare address.
    pub from: &'a str,
    pub to: &'a [Email],
    pub reply_to: Option<&'a str>,
    /// Left part of the Message-ID (unique per message, e.g. `survey.<send id>`); the right part
    /// is the sender's domain.
    pub message_id: &'a str,
    pub date: Timestamp,
    pub tag: &'static str,
    /// The record the email belongs to (send id, report period): for logs and file names.
    pub reference: String,
}

macro_rules! text_header {
    ($name:ident, $header:literal) => {
        #[derive(Debug, Clone)]
        struct $name(String);

        impl Header for $name {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($header)
            }

            fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok($name(s.to_string()))
            }

            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), self.0.clone())
            }
        }
    };
}

text_header!(ListUnsubscribe, "List-Unsubscribe");
text_header!(ListUnsubscribePost, "List-Unsubscribe-Post");
text_header!(AutoSubmitted, "Auto-Submitted");
text_header!(PulsoTag, "X-Pulso-Kind");

/// Builds the whole message.
pub fn build(
    envelope: &Envelope<'_>,
    content: &Content,
    unsubscribe: Option<&Unsubscribe>,
) -> Result<OutgoingEmail, MailBuildError> {
    let from: Mailbox = envelope
        .from
        .parse()
        .map_err(|_| MailBuildError::BadSender(envelope.from.chars().take(60).collect()))?;
    if envelope.to.is_empty() {
        return Err(MailBuildError::NoRecipient);
    }
    let domain = from.email.domain().to_string();
    let mut builder = lettre::Message::builder()
        .from(from.clone())
        .subject(content.subject.clone())
        .message_id(Some(format!("<{}@{}>", envelope.message_id, domain)))
        .date(SystemTime::from(envelope.date))
        .header(AutoSubmitted("auto-generated".into()))
        .header(PulsoTag(envelope.tag.into()));
    for to in envelope.to {
        let mb: Mailbox = to
            .as_str()
            .parse()
            .map_err(|e: lettre::address::AddressError| MailBuildError::Build(e.to_string()))?;
        builder = builder.to(mb);
    }
    if let Some(r) = envelope.reply_to {
        let mb: Mailbox = r
            .parse()
            .map_err(|_| MailBuildError::BadSender("reply_to".into()))?;
        builder = builder.reply_to(mb);
    }
    if let Some(u) = unsubscribe {
        builder = builder
            .header(ListUnsubscribe(format!("<{}>, <{}>", u.https, u.mailto)))
            .header(ListUnsubscribePost("List-Unsubscribe=One-Click".into()));
    }
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(content.text.clone());
    let html = SinglePart::builder()
        .header(ContentType::TEXT_HTML)
        .body(content.html.clone());
    let html_part = if content.images.is_empty() {
        MultiPart::alternative().singlepart(text).singlepart(html)
    } else {
        let mut related = MultiPart::related().singlepart(html);
        for img in &content.images {
            let ct = ContentType::parse(&img.content_type)
                .map_err(|e| MailBuildError::Build(e.to_string()))?;
            related = related
                .singlepart(Attachment::new_inline(img.cid.clone()).body(img.bytes.clone(), ct));
        }
        MultiPart::alternative().singlepart(text).multipart(related)
    };
    let message = builder
        .multipart(html_part)
        .map_err(|e| MailBuildError::Build(e.to_string()))?;
    Ok(OutgoingEmail {
        from: from.email.to_string(),
        to: envelope.to.iter().map(|e| e.as_str().to_string()).collect(),
        raw: message.formatted(),
        tag: envelope.tag,
        reference: envelope.reference.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_survey_message_has_both_parts_and_the_unsubscribe_headers() {
        let to = [Email::parse("ana@example.com").unwrap()];
        let env = Envelope {
            from: "Acme <nps@acme.example>",
            to: &to,
            reply_to: Some("help@acme.example"),
            message_id: "survey.s123",
            date: "2026-03-02T08:00:00Z".parse().unwrap(),
            tag: "survey",
            reference: "s123".into(),
        };
        let content = Content {
            subject: "¿Nos recomendarías?".into(),
            text: "Hola".into(),
            html: "<p>Hola</p>".into(),
            images: vec![],
        };
        let unsub = Unsubscribe {
            https: "https://nps.acme.example/u/tok".into(),
            mailto: "mailto:unsubscribe@acme.example?subject=s123".into(),
        };
        let m = build(&env, &content, Some(&unsub)).unwrap();
        let raw = String::from_utf8(m.raw).unwrap();
        assert!(
            raw.contains("List-Unsubscribe: <https://nps.acme.example/u/tok>,"),
            "{raw}"
        );
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(raw.contains("Message-ID: <survey.s123@acme.example>"));
        assert!(raw.contains("Date: Mon, 02 Mar 2026 08:00:00 +0000"));
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("text/plain") && raw.contains("text/html"));
        assert_eq!(m.to, vec!["ana@example.com".to_string()]);
        assert_eq!(m.from, "nps@acme.example");
    }

    #[test]
    fn inline_images_go_in_a_related_part() {
        let to = [Email::parse("ana@example.com").unwrap()];
        let env = Envelope {
            from: "nps@acme.example",
            to: &to,
            reply_to: None,
            message_id: "weekly.2026-W10",
            date: Timestamp::UNIX_EPOCH,
            tag: "weekly",
            reference: "2026-W10".into(),
        };
        let content = Content {
            subject: "Weekly".into(),
            text: "t".into(),
            html: "<img src=\"cid:trend\">".into(),
            images: vec![InlineImage {
                cid: "trend".into(),
                content_type: "image/png".into(),
                bytes: vec![1, 2, 3],
            }],
        };
        let raw = String::from_utf8(build(&env, &content, None).unwrap().raw).unwrap();
        assert!(raw.contains("multipart/related"));
        assert!(raw.contains("Content-ID: <trend>"));
        assert!(!raw.contains("List-Unsubscribe"));
    }

    #[test]
    fn a_bad_sender_is_an_error() {
        let to = [Email::parse("ana@example.com").unwrap()];
        let env = Envelope {
            from: "not a mailbox",
            to: &to,
            reply_to: None,
            message_id: "x",
            date: Timestamp::UNIX_EPOCH,
            tag: "survey",
            reference: "x".into(),
        };
        assert!(matches!(
            build(&env, &Content::default(), None),
            Err(MailBuildError::BadSender(_))
        ));
        let env = Envelope {
            from: "a@b.example",
            to: &[],
            ..env
        };
        assert!(matches!(
            build(&env, &Content::default(), None),
            Err(MailBuildError::NoRecipient)
        ));
    }
}
