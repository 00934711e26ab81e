//! pulso-core: Pulso's domain.
//!
//! Pure: no AWS, no SQL, no wall clock or randomness it is not handed. The services here talk to
//! the world only through the traits in [`ports`]; adapters (`pulso-local`, `pulso-aws`) implement
//! them. Each module says what it owns.

pub mod alerts;
pub mod capture;
pub mod config;
pub mod contacts;
pub mod context;
pub mod dispatch;
pub mod feedback;
pub mod i18n;
pub mod links;
pub mod mail;
pub mod model;
pub mod nps;
pub mod ports;
pub mod reports;
pub mod retention;
pub mod time;
pub mod token;
pub mod types;

pub use config::Config;
pub use context::Ctx;
pub use model::*;
pub use nps::{Category, Histogram, NpsStats};
pub use ports::{Clock, Ids, Store, StoreError, StoreResult};
pub use token::{Keys, KeysUnavailable, Purpose, SigningKeys, TokenError};
pub use types::*;
