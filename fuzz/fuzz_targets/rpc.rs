//! An ACS request all the way through (src/soap/ then src/rpc/): what `soap::decode` accepts
//! is answered by `rpc::handle` on the embedded TR-181 data model (a fresh one per input,
//! state in a private directory, configuration in memory), and the answer is encoded. No
//! request may panic a handler or the encoder.
#![no_main]

use icwmp::datamodel::embedded::EmbeddedDataModel;
use icwmp::datamodel::MemConfigStore;
use icwmp::notify::NotifyAttributes;
use icwmp::rpc::{handle, RpcContext};
use icwmp::soap::{decode, encode_response, AcsMessage};
use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn state_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // fuzz/run.sh names a directory it removes afterwards; tmpfs otherwise.
        let shm = Path::new("/dev/shm");
        let base = match std::env::var_os("ICWMP_FUZZ_TMP") {
            Some(d) => PathBuf::from(d),
            None if shm.is_dir() => shm.to_path_buf(),
            None => std::env::temp_dir(),
        };
        let dir = base.join(format!("icwmp-fuzz-rpc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("creating the fuzz state directory");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(env) = decode(data) else {
        return;
    };
    let AcsMessage::Request(req) = &env.body else {
        return;
    };
    let dir = state_dir();
    // What an earlier input added must not leak into this one.
    let _ = std::fs::remove_file(dir.join("dm.json"));
    let mut dm = EmbeddedDataModel::new(dir, Box::new(MemConfigStore::default()));
    let mut attrs = NotifyAttributes::new();
    let mut ctx = RpcContext {
        dm: &mut dm,
        attrs: &mut attrs,
        amd_version: 6,
        now: 1_700_000_000,
        forced_inform: &[],
        queued_schedule_informs: 0,
        transfers: &[],
        du_jobs: 0,
    };
    let (resp, _actions) = handle(req, &mut ctx);
    let _ = encode_response(&resp, env.header.id.as_deref(), env.ns);
});
