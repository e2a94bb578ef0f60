//! [`Sums`]: several integer sums travelling as one differential difference, so that
//! consolidation adds them up (DESIGN.md's "let differences do the summing"). A record
//! contributes its measures once; a key's totals cost O(1) per record, whatever its history.

use differential_dataflow::difference::{Abelian, IsZero, Monoid, Multiply, Semigroup};
use serde::de::{Error as _, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `N` sums, added element by element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sums<const N: usize>(pub [i64; N]);

impl<const N: usize> Default for Sums<N> {
    fn default() -> Sums<N> {
        Sums([0; N])
    }
}

impl<const N: usize> IsZero for Sums<N> {
    fn is_zero(&self) -> bool {
        self.0.iter().all(|n| *n == 0)
    }
}

impl<const N: usize> Semigroup for Sums<N> {
    fn plus_equals(&mut self, other: &Sums<N>) {
        self.0.iter_mut().zip(other.0).for_each(|(mine, theirs)| *mine += theirs);
    }
}

impl<const N: usize> Monoid for Sums<N> {
    fn zero() -> Sums<N> {
        Sums::default()
    }
}

impl<const N: usize> Abelian for Sums<N> {
    fn negate(&mut self) {
        self.0.iter_mut().for_each(|n| *n = -*n);
    }
}

impl<const N: usize> Multiply<isize> for Sums<N> {
    type Output = Sums<N>;

    fn multiply(self, times: &isize) -> Sums<N> {
        Sums(self.0.map(|n| n * *times as i64))
    }
}

// serde implements arrays of fixed sizes only, so a tuple of N integers by hand.
impl<const N: usize> Serialize for Sums<N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(N)?;
        for n in &self.0 {
            tuple.serialize_element(n)?;
        }
        tuple.end()
    }
}

impl<'de, const N: usize> Deserialize<'de> for Sums<N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Sums<N>, D::Error> {
        struct Integers<const N: usize>;
        impl<'de, const N: usize> Visitor<'de> for Integers<N> {
            type Value = Sums<N>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "{N} integers")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Sums<N>, A::Error> {
                let mut sums = Sums::default();
                for (i, slot) in sums.0.iter_mut().enumerate() {
                    *slot = seq.next_element()?.ok_or_else(|| A::Error::invalid_length(i, &self))?;
                }
                Ok(sums)
            }
        }
        deserializer.deserialize_tuple(N, Integers::<N>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_add_negate_multiply_and_round_trip() {
        let mut a = Sums::<3>([2, 0, -5]);
        a.plus_equals(&Sums([1, 1, 1]));
        assert_eq!(a, Sums([3, 1, -4]));
        assert_eq!(a.multiply(&-2), Sums([-6, -2, 8]));
        let mut b = a;
        b.negate();
        b.plus_equals(&a);
        assert!(b.is_zero());
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "[3,1,-4]");
        assert_eq!(serde_json::from_str::<Sums<3>>(&json).unwrap(), a);
        assert!(serde_json::from_str::<Sums<3>>("[1,2]").is_err());
    }
}
