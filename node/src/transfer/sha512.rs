//! SHA-512, the `sha512_checksum` of records and results: ring's implementation (BoringSSL's
//! assembly), 1.2–1.4× the `sha2` crate's speed on this machine (`docs/performance.md`, "Offer
//! to converting"). SHA-512 is the slowest step of an offer, so its speed is the offer's.

/// An incremental SHA-512.
pub struct Sha512(ring::digest::Context);

impl Default for Sha512 {
    fn default() -> Self {
        Sha512(ring::digest::Context::new(&ring::digest::SHA512))
    }
}

impl Sha512 {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest, lowercase hex (128 characters).
    pub fn hex(self) -> String {
        hex::encode(self.0.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::Sha512;
    use sha2::Digest;

    /// The same digest as an independent implementation, whatever the split of the input.
    #[test]
    fn matches_the_sha2_crate_across_update_boundaries() {
        let data: Vec<u8> = (0..300_001u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for split in [0, 1, 127, 128, 129, 65_536, 300_001] {
            let mut h = Sha512::default();
            h.update(&data[..split]);
            h.update(&data[split..]);
            assert_eq!(
                h.hex(),
                hex::encode(sha2::Sha512::digest(&data)),
                "split {split}"
            );
        }
        assert_eq!(
            Sha512::default().hex(),
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
        );
    }
}
