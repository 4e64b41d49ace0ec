//! Record signatures: every record is signed by its author's node key (Ed25519), so a record
//! relayed by a third node can be checked against the node id it names as its author.

use libp2p_identity::{Keypair, PeerId, PublicKey};

use crate::ids::{Millis, NodeId, Seq};
use crate::record::{InvalidRecord, Record, RecordBody, Signature};
use crate::report::ProgressReport;

/// Domain separation for record signatures (never reused for anything else).
const DOMAIN: &str = "dmc record signature v1";
/// Domain separation for progress report signatures: a report's signature can never pass
/// for a record's, nor the other way round.
const REPORT_DOMAIN: &str = "dmc progress report v1";
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// The bytes an author signs: a fixed encoding of everything in the record but the signature.
pub fn signed_bytes(author: &NodeId, seq: Seq, created_at: Millis, body: &RecordBody) -> Vec<u8> {
    crate::wire::encode(&(DOMAIN, author, seq, created_at, body))
}

/// The bytes the author of a progress report signs: everything in it but the signature.
fn report_bytes(r: &ProgressReport) -> Vec<u8> {
    crate::wire::encode(&(
        REPORT_DOMAIN,
        &r.author,
        r.item_id,
        r.epoch,
        &r.progress,
        r.created_at,
    ))
}

/// This node's key, used to sign the records it makes.
#[derive(Clone)]
pub struct Signer {
    keypair: Keypair,
    me: NodeId,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", self.me)
    }
}

impl Signer {
    pub fn new(keypair: Keypair) -> Self {
        let me = NodeId::new(keypair.public().to_peer_id().to_base58());
        Signer { keypair, me }
    }

    /// A signer from a 32-byte Ed25519 secret (tests and simulations).
    pub fn from_seed(mut seed: [u8; 32]) -> Self {
        match Keypair::ed25519_from_bytes(&mut seed) {
            Ok(k) => Signer::new(k),
            // 32 bytes are always a valid Ed25519 secret.
            Err(_) => unreachable!("any 32 bytes are an Ed25519 secret key"),
        }
    }

    /// The node id this key signs as.
    pub fn node_id(&self) -> &NodeId {
        &self.me
    }

    /// Signs `record` in place (its author should be this signer's node id).
    pub fn sign(&self, record: &mut Record) {
        let bytes = signed_bytes(&record.author, record.seq, record.created_at, &record.body);
        // Ed25519 signing cannot fail; other key types are never used for node keys.
        record.sig = Signature(self.keypair.sign(&bytes).unwrap_or_default());
    }

    /// Signs a progress report in place (its author should be this signer's node id).
    pub fn sign_report(&self, report: &mut ProgressReport) {
        let bytes = report_bytes(report);
        // As for records: Ed25519 signing cannot fail.
        report.sig = Signature(self.keypair.sign(&bytes).unwrap_or_default());
    }
}

/// The public key a node id names (node ids are Ed25519 peer ids, which embed the key).
pub fn public_key(author: &NodeId) -> Result<PublicKey, InvalidRecord> {
    let bad = |why: &str| InvalidRecord::Signature(format!("author `{}` {why}", author.short()));
    let peer: PeerId = author
        .as_str()
        .parse()
        .map_err(|_| bad("is not a peer id"))?;
    let bytes = peer.to_bytes();
    // An identity multihash (code 0, then a one-byte length) holds the protobuf-encoded
    // public key itself; Ed25519 keys are always stored that way.
    match bytes.as_slice() {
        [0, len, key @ ..] if usize::from(*len) == key.len() => {
            PublicKey::try_decode_protobuf(key).map_err(|_| bad("embeds no valid public key"))
        }
        _ => Err(bad("does not embed its public key")),
    }
}

/// Checks that `record` carries a valid signature by its author.
pub fn verify(record: &Record) -> Result<(), InvalidRecord> {
    if record.sig.0.len() != SIGNATURE_LEN {
        return Err(InvalidRecord::Signature(format!(
            "{} record {}#{} is unsigned or its signature has the wrong length",
            record.body.kind(),
            record.author.short(),
            record.seq
        )));
    }
    let key = public_key(&record.author)?;
    let bytes = signed_bytes(&record.author, record.seq, record.created_at, &record.body);
    if !key.verify(&bytes, &record.sig.0) {
        return Err(InvalidRecord::Signature(format!(
            "{} record {}#{} does not carry its author's signature (forged or altered)",
            record.body.kind(),
            record.author.short(),
            record.seq
        )));
    }
    Ok(())
}

/// Checks that a progress report carries a valid signature by its author.
pub fn verify_report(report: &ProgressReport) -> Result<(), InvalidRecord> {
    let key = public_key(&report.author)?;
    if report.sig.0.len() != SIGNATURE_LEN || !key.verify(&report_bytes(report), &report.sig.0) {
        return Err(InvalidRecord::Signature(format!(
            "progress report of {} on item {} does not carry its author's signature",
            report.author.short(),
            report.item_id
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::NodeInfo;

    fn node_record(signer: &Signer) -> Record {
        let mut r = Record {
            author: signer.node_id().clone(),
            seq: 1,
            created_at: 5,
            body: RecordBody::Node(NodeInfo {
                name: "laptop".into(),
                converter: None,
            }),
            sig: Signature::default(),
        };
        signer.sign(&mut r);
        r
    }

    #[test]
    fn a_signed_record_verifies_and_any_change_breaks_it() {
        let s = Signer::from_seed([7; 32]);
        let r = node_record(&s);
        assert_eq!(verify(&r), Ok(()));
        let mut changed = r.clone();
        changed.seq = 2;
        assert!(verify(&changed).is_err());
        let mut renamed = r.clone();
        renamed.body = RecordBody::Node(NodeInfo {
            name: "evil".into(),
            converter: None,
        });
        assert!(verify(&renamed).is_err());
        let mut unsigned = r.clone();
        unsigned.sig = Signature::default();
        assert!(verify(&unsigned).is_err());
    }

    #[test]
    fn a_record_signed_by_another_key_is_a_forgery() {
        let real = Signer::from_seed([1; 32]);
        let forger = Signer::from_seed([2; 32]);
        let mut r = node_record(&forger);
        r.author = real.node_id().clone();
        forger.sign(&mut r);
        r.author = real.node_id().clone();
        let err = verify(&r).unwrap_err().to_string();
        assert!(err.contains("forged"), "{err}");
    }

    #[test]
    fn an_author_that_is_not_a_peer_id_is_refused() {
        let s = Signer::from_seed([1; 32]);
        let mut r = node_record(&s);
        r.author = NodeId::new("Node1");
        assert!(verify(&r).is_err());
    }
}
