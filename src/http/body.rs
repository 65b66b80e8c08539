//! A response body: owned bytes, or bytes shared with a cache and served without a copy.

use std::ops::Deref;
use std::sync::Arc;

/// The bytes of one answer.
#[derive(Debug, Clone)]
pub enum Body {
    /// Built for this request.
    Owned(Vec<u8>),
    /// Built once (per poll generation) and shared by every request that reads it.
    Shared(Arc<[u8]>),
    /// Compiled into the binary (dashboard assets).
    Static(&'static [u8]),
}

impl Default for Body {
    fn default() -> Self {
        Body::Static(&[])
    }
}

impl Deref for Body {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Body::Owned(bytes) => bytes,
            Body::Shared(bytes) => bytes,
            Body::Static(bytes) => bytes,
        }
    }
}

impl AsRef<[u8]> for Body {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Body::Owned(bytes)
    }
}

impl From<Arc<[u8]>> for Body {
    fn from(bytes: Arc<[u8]>) -> Self {
        Body::Shared(bytes)
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Self {
        Body::Static(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_as_its_bytes() {
        let shared: Arc<[u8]> = Arc::from(&b"[1]"[..]);
        assert_eq!(&*Body::from(Arc::clone(&shared)), b"[1]");
        assert_eq!(&*Body::from(b"[1]".to_vec()), b"[1]");
        assert_eq!(&*Body::from(&b"[1]"[..]), b"[1]");
        assert!(Body::default().is_empty());
    }
}
