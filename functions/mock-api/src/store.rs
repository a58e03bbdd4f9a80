//! The synthetic order store.
//!
//! Every order is a pure function of (seed, index): order `i` is created at
//! `start + (i + jitter) * interval`, so any page or time window is computed on demand without
//! materialising the data set, and the same seed always gives byte-identical answers. Orders go
//! on being created after day 0 at the same rate; "now" (the `until` of a query) decides what is
//! visible. A share of orders is updated 1 to 72 hours after creation (a status change, so the
//! same order_id comes again with a later updated_at; some updates also correct the order's
//! date to the day of the update, which moves it to another order_date partition), and a share
//! is bad. A share of customers and products change their attributes once (a customer moves
//! country and segment, a product is renamed and recategorised): a record carries them as they
//! are at its `updated_at`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SecondsFormat, TimeZone, Utc};
use lakehouse_core::record::{INITIAL_STATUS, STATUSES};
use rand::{Rng, SeedableRng, rngs::SmallRng};

use crate::record::{BadKind, Raw, SourceRecord};

/// Latest delay between an order's creation and its update.
pub const MAX_UPDATE_DELAY: Duration = Duration::hours(72);

const FIRST: [&str; 16] = [
    "Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kira",
    "Liam", "Maya", "Noah", "Olga", "Pablo",
];
const LAST: [&str; 12] = [
    "Smith", "Meyer", "Rossi", "Dubois", "Novak", "Silva", "Kowalski", "Jensen", "Garcia",
    "Tanaka", "Okafor", "Larsen",
];
const COUNTRIES: [&str; 8] = ["DE", "FR", "IT", "ES", "NL", "PL", "SE", "US"];
const SEGMENTS: [&str; 3] = ["consumer", "business", "premium"];
const ADJECTIVES: [&str; 10] = [
    "Classic", "Compact", "Deluxe", "Eco", "Ultra", "Smart", "Vintage", "Pro", "Mini", "Rugged",
];
const NOUNS: [&str; 10] = [
    "Lamp",
    "Backpack",
    "Kettle",
    "Headphones",
    "Desk",
    "Jacket",
    "Blender",
    "Watch",
    "Tent",
    "Keyboard",
];
const CATEGORIES: [&str; 6] = [
    "home",
    "outdoor",
    "electronics",
    "kitchen",
    "fashion",
    "office",
];
/// The statuses an order moves to after [`INITIAL_STATUS`]: every other one.
const FINAL_STATUSES: [&str; STATUSES.len() - 1] = {
    let mut later = [""; STATUSES.len() - 1];
    let mut i = 0;
    while i < later.len() {
        later[i] = STATUSES[i + 1];
        i += 1;
    }
    later
};
const NUMBER_WORDS: [&str; 5] = ["one", "two", "three", "four", "five"];

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoreConfig {
    pub seed: u64,
    /// Orders created during the history window (the day-0 volume).
    pub orders: u64,
    pub history_days: u32,
    /// When the first order was created.
    pub start: DateTime<Utc>,
    pub customers: u64,
    pub products: u64,
    /// Share of orders updated later.
    pub update_share: f64,
    /// Share of orders whose record is bad.
    pub bad_share: f64,
    /// Share of updates that also move the order's date to the day of the update.
    #[serde(default = "default_date_move_share")]
    pub date_move_share: f64,
    /// Share of customers, and of products, whose attributes change once.
    #[serde(default = "default_change_share")]
    pub change_share: f64,
}

fn default_date_move_share() -> f64 {
    0.05
}

fn default_change_share() -> f64 {
    0.02
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            seed: 42,
            orders: 100_000,
            history_days: 30,
            start: Utc
                .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
                .single()
                .unwrap_or_default(),
            customers: 20_000,
            products: 1_000,
            update_share: 0.10,
            bad_share: 0.01,
            date_move_share: default_date_move_share(),
            change_share: default_change_share(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid store configuration: {0}")]
pub struct ConfigError(pub String);

impl StoreConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let share = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(ConfigError(format!(
                    "{name} must be between 0 and 1, got {v}"
                )))
            }
        };
        if self.orders == 0 || self.history_days == 0 || self.customers == 0 || self.products == 0 {
            return Err(ConfigError(
                "orders, history_days, customers and products must be positive".into(),
            ));
        }
        share("update_share", self.update_share)?;
        share("date_move_share", self.date_move_share)?;
        share("change_share", self.change_share)?;
        share("bad_share", self.bad_share)
    }

    /// The end of the history window: "now" for a day-0 load.
    pub fn day0_end(&self) -> DateTime<Utc> {
        self.start + Duration::days(i64::from(self.history_days))
    }
}

#[derive(Debug, Clone)]
struct Customer {
    name: String,
    email: String,
    country: &'static str,
    segment: &'static str,
    /// When the customer moves (country and segment change), if ever.
    moves_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
struct Product {
    name: String,
    category: &'static str,
    price_cents: i64,
    /// When the product is renamed and recategorised, if ever.
    renamed_at: Option<DateTime<Utc>>,
}

/// The next of `items` after `item`: a changed attribute.
fn next_of(items: &[&'static str], item: &str) -> &'static str {
    let at = items.iter().position(|i| *i == item).unwrap_or(0);
    items[(at + 1) % items.len()]
}

/// One order as generated, before it is rendered for a given point in time.
#[derive(Debug, Clone)]
struct Order {
    index: u64,
    created_at: DateTime<Utc>,
    customer: usize,
    product: usize,
    quantity: i64,
    update: Option<Update>,
    bad: Option<BadKind>,
    variant: u32,
}

/// An order's later version.
#[derive(Debug, Clone, Copy)]
struct Update {
    at: DateTime<Utc>,
    status: &'static str,
    /// Whether the update also corrects the order's date to the day of the update.
    moves_date: bool,
}

/// The version of an order visible at some time.
#[derive(Debug, Clone, Copy)]
struct Version {
    updated_at: DateTime<Utc>,
    status: &'static str,
    order_date: chrono::NaiveDate,
}

/// The records of a page unless the client asks for another number.
pub const DEFAULT_LIMIT: usize = 5_000;
/// The most records a page holds: about 450 bytes a record, so 10k stay well under the 6 MB
/// Lambda response cap.
pub const MAX_LIMIT: usize = 10_000;

/// A query over the store: records whose visible version has `since < updated_at <= until`.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub since: Option<DateTime<Utc>>,
    pub until: DateTime<Utc>,
    /// The order index to resume from (the previous page's `next_cursor`).
    pub cursor: u64,
    pub limit: usize,
}

#[derive(Debug, Clone)]
pub struct Page {
    pub records: Vec<SourceRecord>,
    pub next_cursor: Option<u64>,
}

/// What a correct pipeline must end with, for tests: computed from the generator itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Truth {
    /// order_id -> status of its latest version, for every order whose record is valid.
    pub valid_orders: BTreeMap<String, String>,
    /// (order_id if it has one, kind) of every bad record.
    pub bad_records: Vec<(Option<String>, BadKind)>,
    /// Orders that were updated after creation (visible in their updated state).
    pub updated_orders: u64,
    /// order_id -> order_date of its latest version, for every valid order.
    pub order_dates: BTreeMap<String, chrono::NaiveDate>,
    /// order_id -> the date it was created on, for the valid orders whose date an update moved.
    pub moved_orders: BTreeMap<String, chrono::NaiveDate>,
    /// Customers and products whose attributes changed by then.
    pub changed_customers: u64,
    pub changed_products: u64,
}

impl Truth {
    /// The truth as `tests/check_tables.py` reads it: what an independent reader of the lake
    /// must find.
    pub fn expected_json(&self) -> serde_json::Value {
        serde_json::json!({
            "valid_orders": self.valid_orders,
            "bad_records": self
                .bad_records
                .iter()
                .map(|(id, kind)| (id, kind.reason().as_str()))
                .collect::<Vec<_>>(),
            "order_dates": self.order_dates,
            "moved_orders": self.moved_orders,
            "changed_customers": self.changed_customers,
            "changed_products": self.changed_products,
        })
    }
}

#[derive(Debug, Clone)]
pub struct SyntheticStore {
    config: StoreConfig,
    interval_ms: f64,
    customers: Vec<Customer>,
    products: Vec<Product>,
}

fn rng_for(seed: u64, stream: u64, index: u64) -> SmallRng {
    // splitmix64 over the three inputs: neighbouring indices get unrelated streams.
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index.rotate_left(17);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    SmallRng::seed_from_u64(z ^ (z >> 31))
}

fn pick<T: Copy>(rng: &mut SmallRng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// When entity `index` of a stream changes its attributes, if it is among the `change_share`
/// that do: any time over twice the history, so changes go on after day 0. A stream of its own,
/// so the other attributes do not depend on the share.
fn change_time(config: &StoreConfig, stream: u64, index: u64) -> Option<DateTime<Utc>> {
    let mut rng = rng_for(config.seed, stream, index);
    rng.random_bool(config.change_share).then(|| {
        let span_ms = f64::from(config.history_days) * 2.0 * 86_400_000.0;
        config.start + Duration::seconds((rng.random::<f64>() * span_ms / 1000.0) as i64)
    })
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl SyntheticStore {
    pub fn new(config: StoreConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let interval_ms = f64::from(config.history_days) * 86_400_000.0 / config.orders as f64;
        let customers = (0..config.customers)
            .map(|c| {
                let mut rng = rng_for(config.seed, 1, c);
                let (first, last) = (pick(&mut rng, &FIRST), pick(&mut rng, &LAST));
                Customer {
                    name: format!("{first} {last}"),
                    email: format!(
                        "{}.{}{c}@example.com",
                        first.to_lowercase(),
                        last.to_lowercase()
                    ),
                    country: pick(&mut rng, &COUNTRIES),
                    segment: pick(&mut rng, &SEGMENTS),
                    moves_at: change_time(&config, 4, c),
                }
            })
            .collect();
        let products = (0..config.products)
            .map(|p| {
                let mut rng = rng_for(config.seed, 2, p);
                Product {
                    name: format!(
                        "{} {} {p}",
                        pick(&mut rng, &ADJECTIVES),
                        pick(&mut rng, &NOUNS)
                    ),
                    category: pick(&mut rng, &CATEGORIES),
                    price_cents: rng.random_range(250..50_000),
                    renamed_at: change_time(&config, 5, p),
                }
            })
            .collect();
        Ok(SyntheticStore {
            config,
            interval_ms,
            customers,
            products,
        })
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The first order index that can have been created at or after `t`.
    fn index_at(&self, t: DateTime<Utc>) -> u64 {
        let ms = (t - self.config.start).num_milliseconds();
        if ms <= 0 {
            return 0;
        }
        // Jitter keeps order i inside [i, i + 1) intervals, so one interval of slack suffices.
        ((ms as f64 / self.interval_ms) as u64).saturating_sub(1)
    }

    fn order(&self, index: u64) -> Order {
        let mut rng = rng_for(self.config.seed, 0, index);
        let offset_ms = (index as f64 + rng.random::<f64>()) * self.interval_ms;
        // Whole seconds: the wire format has no fractions, and filters must agree with it.
        let created_at = self.config.start + Duration::seconds((offset_ms / 1000.0) as i64);
        let bad = rng
            .random_bool(self.config.bad_share)
            .then(|| pick(&mut rng, &BadKind::ALL));
        let update = (bad.is_none() && rng.random_bool(self.config.update_share)).then(|| {
            let delay = Duration::seconds(rng.random_range(3_600..MAX_UPDATE_DELAY.num_seconds()));
            Update {
                at: created_at + delay,
                status: pick(&mut rng, &FINAL_STATUSES),
                // A stream of its own, so the rest of the order does not depend on the share.
                moves_date: rng_for(self.config.seed, 3, index)
                    .random_bool(self.config.date_move_share),
            }
        });
        Order {
            index,
            created_at,
            customer: rng.random_range(0..self.customers.len()),
            product: rng.random_range(0..self.products.len()),
            quantity: rng.random_range(1..=5),
            update,
            bad,
            variant: rng.random(),
        }
    }

    /// The version of an order visible at `until`.
    fn visible(order: &Order, until: DateTime<Utc>) -> Version {
        match order.update {
            Some(update) if update.at <= until => Version {
                updated_at: update.at,
                status: update.status,
                order_date: if update.moves_date {
                    update.at.date_naive()
                } else {
                    order.created_at.date_naive()
                },
            },
            _ => Version {
                updated_at: order.created_at,
                status: INITIAL_STATUS,
                order_date: order.created_at.date_naive(),
            },
        }
    }

    fn render(&self, order: &Order, version: Version) -> SourceRecord {
        let Version {
            updated_at,
            status,
            order_date,
        } = version;
        let customer = &self.customers[order.customer];
        let product = &self.products[order.product];
        let moved = customer.moves_at.is_some_and(|t| t <= updated_at);
        let renamed = product.renamed_at.is_some_and(|t| t <= updated_at);
        let amount_cents = product.price_cents * order.quantity;
        let mut record = SourceRecord {
            order_id: Raw::Value(format!("ORD-{:09}", order.index)),
            customer_id: Raw::Value(format!("CUST-{:06}", order.customer)),
            customer_name: customer.name.clone(),
            customer_email: customer.email.clone(),
            customer_country: if moved {
                next_of(&COUNTRIES, customer.country)
            } else {
                customer.country
            },
            customer_segment: if moved {
                next_of(&SEGMENTS, customer.segment)
            } else {
                customer.segment
            },
            product_id: Raw::Value(format!("PROD-{:05}", order.product)),
            product_name: if renamed {
                format!("{} II", product.name)
            } else {
                product.name.clone()
            },
            product_category: if renamed {
                next_of(&CATEGORIES, product.category)
            } else {
                product.category
            },
            quantity: Raw::Value(order.quantity),
            unit_price: Raw::Value(product.price_cents as f64 / 100.0),
            amount: Raw::Value(amount_cents as f64 / 100.0),
            currency: "EUR",
            status,
            order_date: Raw::Value(order_date.to_string()),
            updated_at: rfc3339(updated_at),
        };
        match order.bad {
            Some(BadKind::MissingOrderId) => record.order_id = Raw::Null,
            Some(BadKind::MissingCustomerId) => record.customer_id = Raw::Null,
            Some(BadKind::NonPositiveQuantity) => {
                record.quantity = Raw::Value(-order.quantity);
                record.amount = Raw::Value(-(amount_cents as f64) / 100.0);
            }
            Some(BadKind::InvalidQuantity) => {
                record.quantity = Raw::Text(NUMBER_WORDS[(order.quantity - 1) as usize].into());
            }
            Some(BadKind::InvalidOrderDate) => {
                let d = order.created_at;
                record.order_date = Raw::Text(if order.variant.is_multiple_of(2) {
                    d.format("%d/%m/%Y").to_string()
                } else {
                    d.format("%Y-02-30").to_string()
                });
            }
            Some(BadKind::DuplicateRecord) | None => {}
        }
        record
    }

    /// A bound on the cursors of a window ending at `until`: the first order index created
    /// after it, plus one interval of slack (jitter keeps order i inside [i, i + 1) intervals).
    pub fn end_of(&self, until: DateTime<Utc>) -> u64 {
        self.index_at(until).saturating_add(2)
    }

    /// One page of the records matching `query`.
    pub fn page(&self, query: &Query) -> Page {
        let first = match query.since {
            Some(since) => self.index_at(since - MAX_UPDATE_DELAY),
            None => 0,
        };
        let limit = query.limit.max(1);
        let mut records = Vec::with_capacity(limit.min(16_384));
        let mut index = query.cursor.max(first);
        loop {
            let order = self.order(index);
            if order.created_at > query.until {
                return Page {
                    records,
                    next_cursor: None,
                };
            }
            let version = Self::visible(&order, query.until);
            if query.since.is_none_or(|since| version.updated_at > since) {
                let copies = if order.bad == Some(BadKind::DuplicateRecord) {
                    2
                } else {
                    1
                };
                if !records.is_empty() && records.len() + copies > limit {
                    break;
                }
                let record = self.render(&order, version);
                if copies == 2 {
                    records.push(record.clone());
                }
                records.push(record);
            }
            index += 1;
            if records.len() >= limit {
                break;
            }
        }
        Page {
            records,
            next_cursor: Some(index),
        }
    }

    /// The state a correct pipeline must reach after loading everything visible at `until`.
    pub fn truth(&self, until: DateTime<Utc>) -> Truth {
        let mut truth = Truth::default();
        for index in 0.. {
            let order = self.order(index);
            if order.created_at > until {
                break;
            }
            let order_id = format!("ORD-{:09}", order.index);
            let version = Self::visible(&order, until);
            match order.bad {
                Some(BadKind::MissingOrderId) => {
                    truth.bad_records.push((None, BadKind::MissingOrderId));
                    continue;
                }
                Some(BadKind::DuplicateRecord) => truth
                    .bad_records
                    .push((Some(order_id.clone()), BadKind::DuplicateRecord)),
                Some(kind) => {
                    truth.bad_records.push((Some(order_id), kind));
                    continue;
                }
                None if version.status != INITIAL_STATUS => truth.updated_orders += 1,
                None => {}
            }
            let created = order.created_at.date_naive();
            if version.order_date != created {
                truth.moved_orders.insert(order_id.clone(), created);
            }
            truth
                .order_dates
                .insert(order_id.clone(), version.order_date);
            truth.valid_orders.insert(order_id, version.status.into());
        }
        let changed = |t: Option<DateTime<Utc>>| t.is_some_and(|t| t <= until);
        truth.changed_customers = self
            .customers
            .iter()
            .filter(|c| changed(c.moves_at))
            .count() as u64;
        truth.changed_products = self
            .products
            .iter()
            .filter(|p| changed(p.renamed_at))
            .count() as u64;
        truth
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(orders: u64) -> SyntheticStore {
        SyntheticStore::new(StoreConfig {
            orders,
            bad_share: 0.05,
            ..StoreConfig::default()
        })
        .unwrap()
    }

    fn all(
        store: &SyntheticStore,
        since: Option<DateTime<Utc>>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<SourceRecord> {
        let mut out = Vec::new();
        let mut cursor = 0;
        loop {
            let page = store.page(&Query {
                since,
                until,
                cursor,
                limit,
            });
            assert!(page.records.len() <= limit.max(1));
            out.extend(page.records);
            match page.next_cursor {
                Some(c) => cursor = c,
                None => return out,
            }
        }
    }

    #[test]
    fn full_extract_is_deterministic_and_independent_of_page_size() {
        let s = store(2_000);
        let until = s.config().day0_end();
        let a = all(&s, None, until, 97);
        let b = all(&store(2_000), None, until, 5_000);
        assert_eq!(a, b);
        let truth = s.truth(until);
        let dups = truth
            .bad_records
            .iter()
            .filter(|(_, k)| *k == BadKind::DuplicateRecord)
            .count();
        // Every order appears once, duplicates twice.
        assert_eq!(a.len(), truth.valid_orders.len() + truth.bad_records.len());
        assert!(
            dups > 0 && truth.bad_records.len() > 50,
            "{:?}",
            truth.bad_records.len()
        );
        assert!(a.len() > 1_950 && a.len() < 2_100, "{}", a.len());
    }

    #[test]
    fn incremental_returns_new_and_updated_orders_only() {
        let s = store(5_000);
        let t0 = s.config().day0_end();
        let t1 = t0 + Duration::hours(12);
        let delta = all(&s, Some(t0), t1, 1_000);
        assert!(!delta.is_empty());
        let mut updated = 0;
        for r in &delta {
            let at = DateTime::parse_from_rfc3339(&r.updated_at).unwrap();
            assert!(at > t0 && at <= t1, "{at}");
            if r.status != "placed" {
                updated += 1;
            }
        }
        assert!(
            updated > 0,
            "some earlier orders were updated in the window"
        );
        // New orders in 12 hours at 5000 orders per 30 days: about 83.
        assert!(delta.len() > 60 && delta.len() < 200, "{}", delta.len());
    }

    /// The record of order `id` among all records visible at `until`.
    fn record_of(s: &SyntheticStore, until: DateTime<Utc>, id: &str) -> SourceRecord {
        all(s, None, until, 10_000)
            .into_iter()
            .find(|r| r.order_id == Raw::Value(id.to_owned()))
            .unwrap()
    }

    #[test]
    fn updated_orders_change_status_and_some_their_date_later() {
        let s = SyntheticStore::new(StoreConfig {
            orders: 3_000,
            date_move_share: 0.5,
            ..StoreConfig::default()
        })
        .unwrap();
        let day0 = s.config().day0_end();
        let later = day0 + Duration::days(5);
        let (before, after) = (s.truth(day0), s.truth(later));
        // Orders created before day 0 and updated after it: placed then, a final status now.
        let changed: Vec<&String> = before
            .valid_orders
            .iter()
            .filter(|(id, status)| *status == "placed" && after.valid_orders[*id] != "placed")
            .map(|(id, _)| id)
            .collect();
        assert!(
            changed.len() > 10,
            "{} orders changed status",
            changed.len()
        );
        for id in changed.iter().take(5) {
            let (then, now) = (record_of(&s, day0, id), record_of(&s, later, id));
            assert_eq!(then.status, "placed", "{id}");
            assert!(FINAL_STATUSES.contains(&now.status), "{id}: {}", now.status);
            assert!(now.updated_at > then.updated_at, "{id}");
            // A moved order's record carries its new date; the others keep theirs.
            let moved = after.moved_orders.contains_key(*id);
            assert_eq!(then.order_date != now.order_date, moved, "{id}");
        }
        let moved = after.moved_orders.len() as f64 / after.updated_orders as f64;
        assert!(
            (0.3..0.7).contains(&moved),
            "{moved} of updates moved their order"
        );
        let share = after.updated_orders as f64 / after.valid_orders.len() as f64;
        assert!((0.07..0.13).contains(&share), "{share}");
    }

    #[test]
    fn changed_customers_carry_their_new_attributes_from_their_change_on() {
        let s = SyntheticStore::new(StoreConfig {
            orders: 3_000,
            change_share: 0.5,
            ..StoreConfig::default()
        })
        .unwrap();
        let until = s.config().day0_end();
        let records = all(&s, None, until, 10_000);
        let moves = s.customers.iter().filter_map(|c| c.moves_at).count();
        assert!(moves > s.customers.len() / 3, "{moves} customers move");
        let mut seen_both = 0;
        for (c, customer) in s.customers.iter().enumerate() {
            let id = Raw::Value(format!("CUST-{c:06}"));
            let Some(at) = customer.moves_at else {
                continue;
            };
            let mut countries = std::collections::BTreeSet::new();
            for r in records.iter().filter(|r| r.customer_id == id) {
                let updated = DateTime::parse_from_rfc3339(&r.updated_at).unwrap();
                let moved = updated >= at;
                let want = if moved {
                    next_of(&COUNTRIES, customer.country)
                } else {
                    customer.country
                };
                assert_eq!(r.customer_country, want, "customer {c} at {updated}");
                countries.insert(r.customer_country);
            }
            seen_both += usize::from(countries.len() == 2);
        }
        assert!(
            seen_both > 10,
            "{seen_both} customers seen before and after their move"
        );
        assert!(s.truth(until).changed_customers > 0);
    }

    #[test]
    fn rejects_bad_config() {
        let bad = StoreConfig {
            bad_share: 1.5,
            ..StoreConfig::default()
        };
        assert!(SyntheticStore::new(bad).is_err());
        let none = StoreConfig {
            orders: 0,
            ..StoreConfig::default()
        };
        assert!(SyntheticStore::new(none).is_err());
    }
}
