//! Arbitrary bytes as a record (or a batch of records) from a peer: decode with cbor4ii,
//! validate, and insert what is valid into a replica, which folds items. Must never panic.
#![no_main]

use dmc_protocol::record::Record;
use dmc_protocol::replica::Replica;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut replica = Replica::new();
    if let Ok(record) = cbor4ii::serde::from_slice::<Record>(data) {
        ingest(&mut replica, record);
    }
    // A batch, as a Push or a Records page carries: several records fold into one item.
    if let Ok(records) = cbor4ii::serde::from_slice::<Vec<Record>>(data) {
        for r in records
            .into_iter()
            .take(dmc_protocol::wire::MAX_RECORDS_PER_MESSAGE)
        {
            ingest(&mut replica, r);
        }
        let _ = replica.summary();
        for item in replica.items() {
            let _ = item.phase;
        }
    }
});

fn ingest(replica: &mut Replica, record: Record) {
    if record.validate().is_ok() {
        replica.insert(record);
    }
}
