//! TFRecord framing, the container of an events file: each record is
//!
//! ```text
//! u64 length (little-endian) · u32 masked CRC-32C of those 8 bytes · data · u32 masked CRC-32C of the data
//! ```
//!
//! where the mask is TensorFlow's `((crc >> 15) | (crc << 17)) + 0xa282ead8` (wrapping), so
//! that a CRC of data that itself holds CRCs stays well distributed.

/// Bytes a record adds around its data.
pub const OVERHEAD: usize = 8 + 4 + 4;

/// TensorFlow's masked CRC-32C (Castagnoli) of `data`.
pub fn masked_crc(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
        .rotate_right(15)
        .wrapping_add(0xa282_ead8)
}

/// `data` framed as one record.
pub fn frame(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + OVERHEAD);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

/// Why the records of a file could not all be read; `offset` is where the bad record starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// The file ends inside a record (a write cut short).
    Truncated { offset: usize },
    /// The length's CRC does not match.
    LengthCrc { offset: usize },
    /// The data's CRC does not match.
    DataCrc { offset: usize },
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::Truncated { offset } => {
                write!(f, "the file ends inside the record at byte {offset}")
            }
            RecordError::LengthCrc { offset } => {
                write!(
                    f,
                    "the length CRC of the record at byte {offset} does not match"
                )
            }
            RecordError::DataCrc { offset } => {
                write!(
                    f,
                    "the data CRC of the record at byte {offset} does not match"
                )
            }
        }
    }
}

/// The records of `bytes`, in order, each checked against both of its CRCs; the first bad
/// or incomplete record ends the iteration with its error.
pub fn records(bytes: &[u8]) -> Records<'_> {
    Records {
        bytes,
        at: 0,
        failed: false,
    }
}

/// Iterator of [`records`].
pub struct Records<'a> {
    bytes: &'a [u8],
    at: usize,
    failed: bool,
}

impl<'a> Records<'a> {
    /// Where the next record starts: after [`Iterator::next`] returned `None` without an
    /// error, the length of the whole records.
    pub fn offset(&self) -> usize {
        self.at
    }

    fn read(&mut self) -> Result<&'a [u8], RecordError> {
        let offset = self.at;
        let rest = &self.bytes[offset..];
        let truncated = RecordError::Truncated { offset };
        let (len, rest) = rest.split_first_chunk::<8>().ok_or(truncated.clone())?;
        let (len_crc, rest) = rest.split_first_chunk::<4>().ok_or(truncated.clone())?;
        if u32::from_le_bytes(*len_crc) != masked_crc(len) {
            return Err(RecordError::LengthCrc { offset });
        }
        let n = usize::try_from(u64::from_le_bytes(*len)).map_err(|_| truncated.clone())?;
        if rest.len() < n.saturating_add(4) {
            return Err(truncated);
        }
        let (data, rest) = rest.split_at(n);
        let (data_crc, _) = rest.split_first_chunk::<4>().ok_or(truncated)?;
        if u32::from_le_bytes(*data_crc) != masked_crc(data) {
            return Err(RecordError::DataCrc { offset });
        }
        self.at = offset + n + OVERHEAD;
        Ok(data)
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<&'a [u8], RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.at >= self.bytes.len() {
            return None;
        }
        let r = self.read();
        self.failed = r.is_err();
        Some(r)
    }
}

/// The length of the longest prefix of `bytes` made of whole, valid records: what is left
/// of a file after the record a crash cut short is dropped.
pub fn whole_prefix(bytes: &[u8]) -> usize {
    let mut it = records(bytes);
    while let Some(Ok(_)) = it.next() {}
    it.offset()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_masked_crc_matches_tensorflow() {
        // CRC-32C check value (RFC 3720) and TensorFlow's mask applied by hand.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        let crc: u32 = 0xe306_9283;
        #[allow(clippy::manual_rotate)] // TensorFlow's formula, as it spells it
        let masked = ((crc >> 15) | (crc << 17)).wrapping_add(0xa282_ead8);
        assert_eq!(masked_crc(b"123456789"), masked);
        // The empty record's framing as TensorFlow writes it: length 0 and two masked CRCs.
        let empty = frame(b"");
        assert_eq!(empty.len(), OVERHEAD);
        assert_eq!(&empty[..8], &[0; 8]);
        assert_eq!(&empty[8..12], &masked_crc(&[0; 8]).to_le_bytes());
        assert_eq!(&empty[12..], &masked_crc(b"").to_le_bytes());
    }

    #[test]
    fn records_read_back_and_every_corruption_is_named() {
        let mut file = frame(b"first");
        file.extend(frame(b""));
        file.extend(frame(b"third record"));
        let got: Vec<&[u8]> = records(&file).map(|r| r.expect("valid")).collect();
        assert_eq!(got, [&b"first"[..], b"", b"third record"]);
        assert_eq!(whole_prefix(&file), file.len());

        let second = OVERHEAD + 5;
        let third = second + OVERHEAD;
        // Cut anywhere inside the last record: the first two survive.
        for cut in third + 1..file.len() {
            let errs: Vec<_> = records(&file[..cut]).filter_map(Result::err).collect();
            assert_eq!(
                errs,
                [RecordError::Truncated { offset: third }],
                "cut {cut}"
            );
            assert_eq!(whole_prefix(&file[..cut]), third);
        }
        // A flipped bit in a length, or in data, or in a CRC.
        let mut bad = file.clone();
        bad[second] ^= 1;
        assert_eq!(
            records(&bad).find_map(Result::err),
            Some(RecordError::LengthCrc { offset: second })
        );
        let mut bad = file.clone();
        bad[third + 12] ^= 0x40;
        assert_eq!(
            records(&bad).find_map(Result::err),
            Some(RecordError::DataCrc { offset: third })
        );
        assert_eq!(whole_prefix(&bad), third);
        let mut bad = file.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x80;
        assert_eq!(
            records(&bad).find_map(Result::err),
            Some(RecordError::DataCrc { offset: third })
        );
        // A huge length is incomplete, not an allocation.
        let mut huge = (u64::MAX).to_le_bytes().to_vec();
        huge.extend(masked_crc(&huge).to_le_bytes());
        assert_eq!(
            records(&huge).find_map(Result::err),
            Some(RecordError::Truncated { offset: 0 })
        );
    }
}
