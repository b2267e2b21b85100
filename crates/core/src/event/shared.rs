//! [`CowVec`]: the copy-on-write vector a [`Batch`](super::Batch) keeps its
//! events and member arena in.
//!
//! Fan-out sends one batch to several consumers. Deep-cloning it for each —
//! every event, every edit list — cost as much as the slowest transform on a
//! pipeline with two sinks, and bought nothing: sinks only read. Sharing the
//! vectors behind one reference count makes the clone free; a consumer that
//! changes the batch (a transform) copies it only if another still holds it.

use std::ops::Deref;
use std::sync::Arc;

/// A vector shared between clones until one of them changes it.
///
/// Reading goes through [`Deref`] to the `Vec`. Changing needs
/// [`CowVec::make_mut`] (also reached through `DerefMut`), which copies the
/// vector first when another clone still holds it — so no clone ever sees
/// another's change. Take the `&mut Vec` once per batch, not per element: each
/// call checks the reference count.
#[derive(Debug)]
pub struct CowVec<T>(Arc<Vec<T>>);

impl<T> CowVec<T> {
    /// An empty vector with room for `capacity` elements.
    pub fn with_capacity(capacity: usize) -> CowVec<T> {
        CowVec(Arc::new(Vec::with_capacity(capacity)))
    }

    /// True when no other clone shares the vector: changing it copies nothing.
    pub fn is_unique(&self) -> bool {
        Arc::strong_count(&self.0) == 1
    }
}

impl<T: Clone> CowVec<T> {
    /// The vector, for changing: copied first if another clone shares it.
    #[inline]
    pub fn make_mut(&mut self) -> &mut Vec<T> {
        Arc::make_mut(&mut self.0)
    }

    /// The vector itself, copied only if another clone shares it.
    pub fn into_vec(self) -> Vec<T> {
        Arc::try_unwrap(self.0).unwrap_or_else(|shared| (*shared).clone())
    }
}

impl<T> Clone for CowVec<T> {
    /// Shares the vector: one reference count, no copy.
    fn clone(&self) -> CowVec<T> {
        CowVec(Arc::clone(&self.0))
    }
}

impl<T> Default for CowVec<T> {
    fn default() -> CowVec<T> {
        CowVec(Arc::new(Vec::new()))
    }
}

impl<T> Deref for CowVec<T> {
    type Target = Vec<T>;

    #[inline]
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T: Clone> std::ops::DerefMut for CowVec<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Vec<T> {
        self.make_mut()
    }
}

impl<T> From<Vec<T>> for CowVec<T> {
    fn from(v: Vec<T>) -> CowVec<T> {
        CowVec(Arc::new(v))
    }
}

impl<T> FromIterator<T> for CowVec<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> CowVec<T> {
        CowVec(Arc::new(iter.into_iter().collect()))
    }
}

impl<T: PartialEq> PartialEq for CowVec<T> {
    fn eq(&self, other: &CowVec<T>) -> bool {
        self.0 == other.0
    }
}

impl<T: PartialEq> PartialEq<Vec<T>> for CowVec<T> {
    fn eq(&self, other: &Vec<T>) -> bool {
        *self.0 == *other
    }
}

impl<'a, T> IntoIterator for &'a CowVec<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'a, T: Clone> IntoIterator for &'a mut CowVec<T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.make_mut().iter_mut()
    }
}

impl<T: Clone> IntoIterator for CowVec<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    fn into_iter(self) -> Self::IntoIter {
        self.into_vec().into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clone_shares_until_one_side_changes() {
        let mut a: CowVec<String> = vec!["x".to_owned()].into();
        let b = a.clone();
        assert!(!a.is_unique());
        assert!(
            std::ptr::eq(a.as_ptr(), b.as_ptr()),
            "a clone must not copy"
        );
        a.push("y".to_owned());
        assert_eq!(
            *b,
            vec!["x".to_owned()],
            "the other clone never sees a change"
        );
        assert_eq!(*a, vec!["x".to_owned(), "y".to_owned()]);
        assert!(a.is_unique() && b.is_unique());
    }

    #[test]
    fn a_unique_vector_changes_in_place() {
        let mut a: CowVec<u32> = vec![1, 2, 3].into();
        let before = a.as_ptr();
        a.make_mut()[0] = 9;
        assert_eq!(a.as_ptr(), before, "no copy when nobody else holds it");
        let shared = a.clone();
        drop(shared);
        a.make_mut()[1] = 8;
        assert_eq!(a.as_ptr(), before);
        assert_eq!(a.into_vec(), vec![9, 8, 3]);
    }

    #[test]
    fn into_vec_copies_only_when_shared() {
        let a: CowVec<u32> = vec![1, 2].into();
        let b = a.clone();
        assert_eq!(a.into_vec(), vec![1, 2]);
        let ptr = b.as_ptr();
        let v = b.into_vec();
        assert_eq!(v.as_ptr(), ptr, "the last holder takes the vector itself");
    }
}
