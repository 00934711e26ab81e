//! What every service is handed: configuration, signing keys, the store, the mailer, the archive,
//! the clock and the id source. Functions build one at cold start; `pulso` builds one per command.

use std::sync::Arc;

use crate::config::Config;
use crate::ports::{Clock, Ids};
use crate::token::Keys;

pub struct Ctx<S, M, A> {
    pub config: Arc<Config>,
    /// The link-signing keys, at hand or on their way ([`Keys`]).
    pub keys: Keys,
    pub store: S,
    pub mailer: M,
    pub archive: A,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn Ids>,
}

impl<S: Clone, M: Clone, A: Clone> Clone for Ctx<S, M, A> {
    fn clone(&self) -> Self {
        Ctx {
            config: self.config.clone(),
            keys: self.keys.clone(),
            store: self.store.clone(),
            mailer: self.mailer.clone(),
            archive: self.archive.clone(),
            clock: self.clock.clone(),
            ids: self.ids.clone(),
        }
    }
}

impl<S, M, A> Ctx<S, M, A> {
    pub fn now(&self) -> jiff::Timestamp {
        self.clock.now()
    }

    /// The company's time zone.
    pub fn tz(&self) -> jiff::tz::TimeZone {
        self.config.company.time_zone.tz()
    }

    /// Today in the company's time zone.
    pub fn today(&self) -> jiff::civil::Date {
        crate::time::local_day(self.now(), &self.tz())
    }
}
