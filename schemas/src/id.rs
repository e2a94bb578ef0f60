//! Identifiers. The dataflow compares, hashes, sorts and copies identifiers more than anything
//! else, so the ones it keys by are 8-byte integers:
//!
//! - [`Id`]: a dimension (store, SKU, cashier, staff member, customer, district, region,
//!   department, category, promotion). Its text is interned once per process; the value is a
//!   64-bit hash of the text, the same in every process that reads it, so values can cross the
//!   processes of a cluster. Few distinct values, shown in the views.
//! - [`Key`]: a high-cardinality identifier the dataflow only joins on (transaction, loyalty
//!   card): the hash alone, its text not kept (records that show one carry its [`Text`]).
//! - [`Text`]: any other identifier as text (event, refund and register ids).

use std::collections::hash_map::Entry;
use std::fmt;
use std::sync::{LazyLock, PoisonError, RwLock};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use xxhash_rust::const_xxh3::xxh3_64 as const_hash;
use xxhash_rust::xxh3::xxh3_64 as hash;

/// An identifier kept as text, inline when short.
pub type Text = compact_str::CompactString;

/// An interned dimension identifier (see the module documentation).
///
/// Ordered by its number, not its text: where the order of names means something (ties broken
/// by name, pairs with `a < b`), compare [`Id::as_str`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(u64);

/// Two different texts with the same 64-bit hash: one of them cannot be an [`Id`] in this process.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("identifier `{new}` has the same 64-bit hash as `{known}`: rename one of them")]
pub struct Collision {
    pub new: String,
    pub known: &'static str,
}

/// Every interned text, by hash. Texts live as long as the process (a chain has a bounded set
/// of dimension values; high-cardinality identifiers are [`Key`]s or [`Text`]).
static NAMES: LazyLock<RwLock<FxHashMap<u64, &'static str>>> =
    LazyLock::new(|| RwLock::new(FxHashMap::from_iter([(EMPTY, "")])));

const EMPTY: u64 = const_hash(b"");

impl Id {
    /// Interns `text`, or says which known text has the same hash.
    pub fn new(text: &str) -> Result<Id, Collision> {
        let h = hash(text.as_bytes());
        let known = NAMES.read().unwrap_or_else(PoisonError::into_inner).get(&h).copied();
        let known = match known {
            Some(known) => known,
            None => match NAMES.write().unwrap_or_else(PoisonError::into_inner).entry(h) {
                Entry::Occupied(entry) => *entry.get(),
                Entry::Vacant(entry) => *entry.insert(Box::leak(text.into())),
            },
        };
        match known == text {
            true => Ok(Id(h)),
            false => Err(Collision { new: text.to_string(), known }),
        }
    }

    /// The text this identifier was interned from.
    pub fn as_str(&self) -> &'static str {
        NAMES.read().unwrap_or_else(PoisonError::into_inner).get(&self.0).copied().unwrap_or_default()
    }
}

impl Default for Id {
    /// The empty identifier.
    fn default() -> Id {
        Id(EMPTY)
    }
}

impl From<&str> for Id {
    /// Interns `text`.
    ///
    /// # Panics
    /// On a [`Collision`], which is for records read from input to report: they use [`Id::new`].
    fn from(text: &str) -> Id {
        Id::new(text).unwrap_or_else(|collision| panic!("{collision}"))
    }
}

impl From<&String> for Id {
    fn from(text: &String) -> Id {
        Id::from(text.as_str())
    }
}

impl From<String> for Id {
    fn from(text: String) -> Id {
        Id::from(text.as_str())
    }
}

impl From<&Text> for Id {
    fn from(text: &Text) -> Id {
        Id::from(text.as_str())
    }
}

impl std::ops::Deref for Id {
    type Target = str;

    fn deref(&self) -> &'static str {
        self.as_str()
    }
}

impl AsRef<str> for Id {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for Id {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Id {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// As text, so that a process reading one interns it (the processes of a cluster agree on the
/// value; the text travels so that each can show it).
impl Serialize for Id {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Id, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Id::new(&text).map_err(serde::de::Error::custom)
    }
}

/// A high-cardinality identifier reduced to the 64-bit hash of its text, for joins: two texts
/// with the same hash would join (about one chance in 10⁷ among 10⁶ distinct texts, and only
/// matters between records that are joined on it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Key(u64);

impl Key {
    pub fn of(text: &str) -> Key {
        Key(hash(text.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_ids_compare_as_their_text_and_show_it() {
        let (a, b) = (Id::from("S001"), Id::from(String::from("S001")));
        assert_eq!(a, b);
        assert_ne!(a, Id::from("S002"));
        assert_eq!(a.as_str(), "S001");
        assert_eq!(a, "S001");
        assert_eq!(format!("{a} {a:?}"), "S001 \"S001\"");
        assert_eq!(Id::default().as_str(), "");
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "\"S001\"");
        assert_eq!(serde_json::from_str::<Id>(&json).unwrap(), a);
        assert_eq!(Key::of("T1"), Key::of("T1"));
        assert_ne!(Key::of("T1"), Key::of("T2"));
    }
}
