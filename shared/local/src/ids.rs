//! Random ids for new records: uuid v7 (time-ordered, so ids created together sort together) in
//! its 32-hex-digit simple form, which fits every id type's `A-Z a-z 0-9 _ -` alphabet.

use pulso_core::ports::Ids;

#[derive(Debug, Clone, Copy, Default)]
pub struct RandomIds;

impl Ids for RandomIds {
    fn new_id(&self) -> String {
        uuid::Uuid::now_v7().simple().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulso_core::types::ContactId;

    #[test]
    fn ids_are_unique_and_valid_contact_ids() {
        let ids = RandomIds;
        let a = ids.new_id();
        let b = ids.new_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(ContactId::parse(&a).is_ok());
    }
}
