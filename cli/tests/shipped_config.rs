//! The default configurations that packaging/install.sh and the Debian package write parse as
//! node configurations.

use std::path::Path;

use dmc_node::config::Config;

fn shipped(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../packaging/config")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_user_config_is_valid_and_all_defaults() {
    let dir = Path::new("/home/u/.local/share/dmc");
    let c = Config::from_toml(dir, &shipped("user.toml"), None).unwrap();
    assert_eq!(c.node, Config::default_for(dir).node);
    assert!(!c.converter.enabled);
}

#[test]
fn the_system_config_is_valid() {
    let dir = Path::new("/var/lib/dmc");
    let text = shipped("system.toml");
    let c = Config::from_toml(dir, &text, None).unwrap_or_else(|e| panic!("{e}"));
    // Members of group dmc use the system node's socket.
    assert_eq!(c.control.group.as_deref(), Some("dmc"));
    assert_eq!(c.node.output_dir, Path::new("/var/lib/dmc/converted"));
    assert_eq!(c.converter.work_dir, Path::new("/var/lib/dmc/work"));
}
