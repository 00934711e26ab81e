//! The demo's sample company: about 300 contacts in 25 B2B accounts (several people each), English
//! and Spanish speakers, segments (plan, region, industry, role), time zones, and customers since
//! dates spread over two years, a few so recent that they are still settling. Generated from a fixed
//! seed and the demo's day, written through `contacts::upsert` like an import: the same day gives the
//! same company, and a rerun changes nothing.

use std::collections::{BTreeMap, HashSet};

use jiff::ToSpan;
use jiff::civil::Date;
use pulso_core::contacts::{self, UpsertOutcome};
use pulso_core::model::ContactInput;
use pulso_core::ports::Ids;
use pulso_core::types::{AccountName, Attributes, Email, Locale, TimeZoneName};

use super::{Demo, Step};

/// A sample account: name, mail domain, region, industry, plan, home time zone, language.
struct Account {
    name: &'static str,
    domain: &'static str,
    region: &'static str,
    industry: &'static str,
    plan: &'static str,
    tz: &'static str,
    locale: Locale,
}

const fn acct(
    name: &'static str,
    domain: &'static str,
    region: &'static str,
    industry: &'static str,
    plan: &'static str,
    tz: &'static str,
    locale: Locale,
) -> Account {
    Account {
        name,
        domain,
        region,
        industry,
        plan,
        tz,
        locale,
    }
}

use Locale::{En, Es};

#[rustfmt::skip]
const ACCOUNTS: [Account; 25] = [
    acct("Grupo Andino", "andino", "americas", "retail", "enterprise", "America/Bogota", Es),
    acct("Farmacias del Sol", "farmaciasdelsol", "americas", "healthcare", "pro", "America/Mexico_City", Es),
    acct("Logística Ibérica", "logisticaiberica", "emea", "logistics", "pro", "Europe/Madrid", Es),
    acct("Banco Austral", "bancoaustral", "americas", "finance", "enterprise", "America/Santiago", Es),
    acct("Viñedos Mendoza", "vinedosmendoza", "americas", "manufacturing", "starter", "America/Argentina/Buenos_Aires", Es),
    acct("Hoteles Costa Brava", "costabrava", "emea", "hospitality", "pro", "Europe/Madrid", Es),
    acct("Construcciones Lima", "construccioneslima", "americas", "construction", "starter", "America/Lima", Es),
    acct("Telecom Caribe", "telecomcaribe", "americas", "telecom", "enterprise", "America/Santo_Domingo", Es),
    acct("Editorial Quijote", "quijote", "emea", "media", "starter", "Europe/Madrid", Es),
    acct("Energía Pampa", "energiapampa", "americas", "energy", "pro", "America/Argentina/Buenos_Aires", Es),
    acct("Clínicas Valencia", "clinicasvalencia", "emea", "healthcare", "pro", "Europe/Madrid", Es),
    acct("Northwind Traders", "northwind", "americas", "retail", "pro", "America/New_York", En),
    acct("Contoso Health", "contoso", "americas", "healthcare", "enterprise", "America/Chicago", En),
    acct("Fabrikam Logistics", "fabrikam", "emea", "logistics", "pro", "Europe/London", En),
    acct("Tailspin Software", "tailspin", "americas", "software", "starter", "America/Los_Angeles", En),
    acct("Wide World Importers", "wideworld", "apac", "retail", "enterprise", "Australia/Sydney", En),
    acct("Blue Yonder Airlines", "blueyonder", "emea", "travel", "enterprise", "Europe/Dublin", En),
    acct("Litware Labs", "litware", "americas", "software", "starter", "America/Toronto", En),
    acct("Adventure Works", "adventureworks", "americas", "manufacturing", "pro", "America/Denver", En),
    acct("Coho Vineyard", "coho", "apac", "manufacturing", "starter", "Pacific/Auckland", En),
    acct("Proseware", "proseware", "apac", "software", "pro", "Asia/Singapore", En),
    acct("Lucerne Publishing", "lucerne", "emea", "media", "starter", "Europe/London", En),
    acct("Margie's Travel", "margiestravel", "americas", "travel", "pro", "America/New_York", En),
    acct("Trey Research", "treyresearch", "apac", "finance", "enterprise", "Asia/Tokyo", En),
    acct("Woodgrove Bank", "woodgrove", "emea", "finance", "enterprise", "Europe/London", En),
];

const FIRST_ES: [&str; 24] = [
    "Ana",
    "Carlos",
    "Lucía",
    "Javier",
    "María",
    "Diego",
    "Sofía",
    "Pablo",
    "Carmen",
    "Andrés",
    "Valentina",
    "Jorge",
    "Isabel",
    "Mateo",
    "Elena",
    "Raúl",
    "Camila",
    "Fernando",
    "Paula",
    "Santiago",
    "Marta",
    "Alejandro",
    "Daniela",
    "Miguel",
];
const LAST_ES: [&str; 20] = [
    "García",
    "Rodríguez",
    "Martínez",
    "López",
    "Hernández",
    "Pérez",
    "Sánchez",
    "Ramírez",
    "Torres",
    "Flores",
    "Rivera",
    "Gómez",
    "Díaz",
    "Reyes",
    "Morales",
    "Ortiz",
    "Castillo",
    "Vargas",
    "Romero",
    "Navarro",
];
const FIRST_EN: [&str; 20] = [
    "Emma", "James", "Olivia", "Liam", "Ava", "Noah", "Sophia", "Lucas", "Mia", "Ethan", "Grace",
    "Henry", "Chloe", "Jack", "Amelia", "Owen", "Harper", "Leo", "Ruby", "Samuel",
];
const LAST_EN: [&str; 20] = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Taylor",
    "Anderson", "Thomas", "Moore", "Martin", "Clark", "Lewis", "Walker", "Hall", "Young", "King",
    "Wright",
];
/// Roles, weighted by how often they appear among a customer's contacts.
const ROLES: [(&str, u64); 5] = [
    ("user", 45),
    ("admin", 20),
    ("executive", 10),
    ("finance", 10),
    ("it", 15),
];
/// Other time zones of each region, for people who work away from their company's office.
const REGION_ZONES: [(&str, &[&str]); 3] = [
    (
        "emea",
        &[
            "Europe/Madrid",
            "Europe/London",
            "Europe/Berlin",
            "Europe/Paris",
        ],
    ),
    (
        "americas",
        &[
            "America/New_York",
            "America/Mexico_City",
            "America/Bogota",
            "America/Sao_Paulo",
        ],
    ),
    (
        "apac",
        &["Asia/Singapore", "Australia/Sydney", "Asia/Tokyo"],
    ),
];

/// The seed of the sample company: change it and the company changes.
const SEED: u64 = 0x5075_6c73_6f44_656d;

/// SplitMix64: a tiny, well-mixed generator, so the company depends on the seed alone.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn weighted(&mut self, items: &[(&'static str, u64)]) -> &'static str {
        let total: u64 = items.iter().map(|(_, w)| w).sum();
        let mut x = self.below(total);
        for (item, w) in items {
            if x < *w {
                return item;
            }
            x -= w;
        }
        items[0].0
    }
}

/// The id a sample contact gets: fixed per person, so reruns name the same people the same way.
struct FixedId(String);

impl Ids for FixedId {
    fn new_id(&self) -> String {
        self.0.clone()
    }
}

/// One sample person, before it is written.
pub struct Person {
    pub id: String,
    pub input: ContactInput,
}

/// ASCII for an email's local part: accents dropped, spaces and apostrophes removed.
fn ascii(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            let c = match c {
                'á' | 'à' | 'ä' | 'â' => 'a',
                'é' | 'è' | 'ë' | 'ê' => 'e',
                'í' | 'ì' | 'ï' | 'î' => 'i',
                'ó' | 'ò' | 'ö' | 'ô' => 'o',
                'ú' | 'ù' | 'ü' | 'û' => 'u',
                'ñ' => 'n',
                'ç' => 'c',
                c => c,
            };
            c.is_ascii_alphanumeric().then(|| c.to_ascii_lowercase())
        })
        .collect()
}

/// The sample company as of `today`: deterministic in the seed and the day.
pub fn people(today: Date) -> anyhow::Result<Vec<Person>> {
    let mut rng = Rng(SEED);
    let mut out = Vec::new();
    let mut emails = HashSet::new();
    for account in &ACCOUNTS {
        // When the account became a customer: between two years and two months ago.
        let account_since = today - (60 + rng.below(670) as i64).days();
        let people = 8 + rng.below(9);
        for _ in 0..people {
            let locale = if rng.chance(85) {
                account.locale
            } else if account.locale == En {
                Es
            } else {
                En
            };
            let (first, last) = match locale {
                Es => {
                    let mut last = rng.pick(&LAST_ES).to_string();
                    if rng.chance(40) {
                        last = format!("{last} {}", rng.pick(&LAST_ES));
                    }
                    (rng.pick(&FIRST_ES).to_string(), last)
                }
                En => (
                    rng.pick(&FIRST_EN).to_string(),
                    rng.pick(&LAST_EN).to_string(),
                ),
            };
            let surname = last.split(' ').next().unwrap_or(&last);
            let base = format!("{}.{}", ascii(&first), ascii(surname));
            let mut local = base.clone();
            let mut n = 2;
            while !emails.insert(format!("{local}@{}", account.domain)) {
                local = format!("{base}{n}");
                n += 1;
            }
            let email = Email::parse(&format!("{local}@{}.example", account.domain))?;

            let tz = if rng.chance(10) {
                let zones = REGION_ZONES
                    .iter()
                    .find(|(r, _)| *r == account.region)
                    .map(|(_, z)| *z)
                    .unwrap_or(&["UTC"]);
                *rng.pick(zones)
            } else {
                account.tz
            };
            // Most people joined with their company or a little later; a few joined in the last
            // weeks and are still in the settling period.
            let since = if rng.chance(6) {
                today - (rng.below(25) as i64).days()
            } else {
                let joined = account_since + (rng.below(120) as i64).days();
                joined.min(today - 1.day())
            };
            let mut attributes = Attributes::new();
            attributes.set("plan", account.plan)?;
            attributes.set("region", account.region)?;
            attributes.set("industry", account.industry)?;
            attributes.set("role", rng.weighted(&ROLES))?;

            out.push(Person {
                id: format!("demo-{:03}", out.len() + 1),
                input: ContactInput {
                    email: Some(email),
                    name: Some(format!("{first} {last}")),
                    locale: Some(locale),
                    account: Some(AccountName::parse(account.name)?),
                    time_zone: Some(TimeZoneName::parse(tz)?),
                    attributes,
                    customer_since: Some(since),
                },
            });
        }
    }
    Ok(out)
}

pub async fn run(demo: &Demo) -> anyhow::Result<Step> {
    let ctx = &demo.ctx;
    let today = ctx.today();
    let now = ctx.now();
    let people = people(today)?;
    let settle_from = today - i64::from(ctx.config.surveys.settle_days).days();
    let (mut created, mut updated, mut unchanged) = (0, 0, 0);
    let mut by_locale: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_plan: BTreeMap<String, usize> = BTreeMap::new();
    let mut settling = 0;
    for p in people {
        let u = contacts::upsert(
            &ctx.store,
            &FixedId(p.id),
            now,
            ctx.config.company.default_locale,
            p.input,
        )
        .await?;
        match u.outcome {
            UpsertOutcome::Created => created += 1,
            UpsertOutcome::Updated => updated += 1,
            UpsertOutcome::Unchanged => unchanged += 1,
        }
        let c = u.contact;
        *by_locale.entry(c.locale.code()).or_default() += 1;
        if let Some(plan) = c.attributes.get("plan") {
            *by_plan.entry(plan.to_string()).or_default() += 1;
        }
        if c.customer_since.is_some_and(|d| d > settle_from) {
            settling += 1;
        }
    }
    let total = created + updated + unchanged;
    let count = |m: &BTreeMap<String, usize>, k: &str| m.get(k).copied().unwrap_or(0);
    Ok(Step {
        title: "A sample company".into(),
        lines: vec![
            format!(
                "{total} contacts in {} accounts ({created} created, {updated} updated, \
                 {unchanged} already there).",
                ACCOUNTS.len()
            ),
            format!(
                "{} speak English, {} Spanish; plans: {} starter, {} pro, {} enterprise; \
                 regions emea, americas and apac.",
                by_locale.get("en").copied().unwrap_or(0),
                by_locale.get("es").copied().unwrap_or(0),
                count(&by_plan, "starter"),
                count(&by_plan, "pro"),
                count(&by_plan, "enterprise"),
            ),
            format!(
                "{settling} became customers in the last {} days: they wait before their first \
                 survey.",
                ctx.config.surveys.settle_days
            ),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_company_is_the_same_for_the_same_day() {
        let today = jiff::civil::date(2026, 3, 2);
        let a = people(today).unwrap();
        let b = people(today).unwrap();
        assert_eq!(a.len(), b.len());
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| x.id == y.id && x.input == y.input)
        );
        assert!((250..=350).contains(&a.len()), "{}", a.len());
    }

    #[test]
    fn the_company_has_what_the_demo_promises() {
        let today = jiff::civil::date(2026, 3, 2);
        let people = people(today).unwrap();
        let emails: HashSet<_> = people.iter().map(|p| p.input.email.clone()).collect();
        assert_eq!(emails.len(), people.len(), "emails are unique");
        let es = people.iter().filter(|p| p.input.locale == Some(Es)).count();
        assert!(es > 60 && people.len() - es > 60, "both locales: {es}");
        for plan in ["starter", "pro", "enterprise"] {
            assert!(
                people
                    .iter()
                    .any(|p| p.input.attributes.get("plan") == Some(plan))
            );
        }
        let accounts: HashSet<_> = people
            .iter()
            .filter_map(|p| p.input.account.as_ref().map(AccountName::key))
            .collect();
        assert_eq!(accounts.len(), 25);
        let since: Vec<Date> = people
            .iter()
            .filter_map(|p| p.input.customer_since)
            .collect();
        assert_eq!(since.len(), people.len());
        assert!(
            since
                .iter()
                .all(|d| *d <= today && *d >= today - 800.days())
        );
        let settling = since.iter().filter(|d| **d > today - 30.days()).count();
        assert!((3..=40).contains(&settling), "{settling}");
        assert!(since.iter().any(|d| *d < today - 365.days()));
    }
}
