//! The checksum a manifest records for each raw part, verified before the part is read.
//!
//! It guards against a truncated or corrupted object (a partial upload, a bad disk, a copy gone
//! wrong). It is not a signature: whoever can rewrite a part can rewrite the manifest beside
//! it. So the checksum is CRC-64/NVME, the one S3 computes for every object by default and
//! returns as `x-amz-checksum-crc64nvme` (base64 of the big-endian value, the form kept here),
//! and it runs at memory speed. SHA-256, which manifests carried before, cost about 0.25 CPU-s
//! of a million-order transform, a fifth of its read phase; those manifests still verify.

use base64::{Engine, engine::general_purpose::STANDARD};
use crc_fast::CrcAlgorithm;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A part's checksum, as a manifest field named after its algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Checksum {
    /// CRC-64/NVME: base64 of its 8 big-endian bytes, as S3 spells it.
    Crc64nvme(String),
    /// SHA-256 in lowercase hex: manifests written before CRC-64/NVME.
    Sha256(String),
}

impl Checksum {
    /// The checksum new manifests record.
    pub fn of(bytes: &[u8]) -> Self {
        Checksum::Crc64nvme(crc64nvme(bytes))
    }

    /// The CRC-64/NVME in S3's spelling, as `x-amz-checksum-crc64nvme` carries it.
    pub fn crc64nvme(&self) -> Option<&str> {
        match self {
            Checksum::Crc64nvme(value) => Some(value),
            Checksum::Sha256(_) => None,
        }
    }

    /// Whether `bytes` have this checksum.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        match self {
            Checksum::Crc64nvme(want) => crc64nvme(bytes) == *want,
            Checksum::Sha256(want) => hex::encode(Sha256::digest(bytes)) == *want,
        }
    }
}

/// CRC-64/NVME of `bytes` in S3's spelling (base64 of its 8 big-endian bytes).
pub fn crc64nvme(bytes: &[u8]) -> String {
    let crc = crc_fast::checksum(CrcAlgorithm::Crc64Nvme, bytes);
    STANDARD.encode(crc.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64nvme_is_the_catalogued_check_value_in_s3s_spelling() {
        // The check value of CRC-64/NVME (the CRC of "123456789") is 0xae8b14860a799888.
        assert_eq!(
            Checksum::of(b"123456789"),
            Checksum::Crc64nvme("rosUhgp5mIg=".into())
        );
    }

    #[test]
    fn a_changed_byte_or_a_missing_tail_does_not_match() {
        let part = b"{\"order_id\":\"A\"}\n{\"order_id\":\"B\"}\n".to_vec();
        for checksum in [
            Checksum::of(&part),
            Checksum::Sha256(hex::encode(Sha256::digest(&part))),
        ] {
            assert!(checksum.matches(&part));
            let mut changed = part.clone();
            changed[14] = b'C';
            assert!(!checksum.matches(&changed));
            assert!(!checksum.matches(&part[..part.len() - 1]));
        }
    }
}
