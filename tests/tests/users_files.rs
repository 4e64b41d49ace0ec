//! A user's own files (issue 13, points 1, 2 and 4): `dmc fetch` never overwrites a file, a
//! result deleted or changed after delivery is neither fetched nor reported as delivered, and
//! a symlink in the output folder is never followed nor able to stall a delivery.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dmc_tests::{make_png, sha512_hex, Lab, Node, NodeOpts};

const LONG: Duration = Duration::from_secs(120);

/// Starts a converter and a laptop that knows the converter's address.
fn pair(lab: &Lab) -> (Node, Node) {
    let (converter, laptop) = Node::converter_and_laptop(lab, false).unwrap();
    (laptop, converter)
}

/// Offers `file` as webp (`--again` when `again`): the item id and whether it existed before.
fn offer(node: &Node, file: &Path, again: bool) -> (String, bool) {
    let mut args = vec![
        "offer",
        file.to_str().unwrap(),
        "--profile",
        "webp",
        "--json",
    ];
    if again {
        args.push("--again");
    }
    let v = node.json(&args).unwrap();
    let o = v.as_array().and_then(|a| a.first()).cloned().unwrap_or(v);
    let id = o["item"]["item_id"].as_str().expect("item_id").to_string();
    (id, o["existing"].as_bool().expect("existing"))
}

/// Offers a fresh picture and waits until it is delivered; the item id and the result's path.
fn delivered_picture(lab: &Lab, laptop: &Node) -> (String, PathBuf) {
    let png = lab.path("picture.png");
    make_png(&png).unwrap();
    let (id, existing) = offer(laptop, &png, false);
    assert!(!existing);
    let item = laptop.wait_final(&id, LONG).unwrap();
    assert_eq!(item["phase"], "delivered", "{item:#}");
    (id, PathBuf::from(item["output_path"].as_str().unwrap()))
}

/// `dmc fetch ARGS --json`: the path it reports.
fn fetch(node: &Node, args: &[&str]) -> PathBuf {
    let mut all = vec!["fetch"];
    all.extend_from_slice(args);
    all.push("--json");
    PathBuf::from(node.json(&all).unwrap()["path"].as_str().unwrap())
}

/// `dmc ARGS` must fail; its stderr.
fn fails(node: &Node, args: &[&str]) -> String {
    let out = node.dmc(args).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "dmc {args:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

#[test]
fn fetch_never_overwrites_a_file_unless_forced() {
    let lab = Lab::new().unwrap();
    let (laptop, _converter) = pair(&lab);
    let (id, result) = delivered_picture(&lab, &laptop);
    let sha = sha512_hex(&result).unwrap();

    // -o FILE that exists: the user's file stays, the copy gets the next free name.
    let precious = lab.path("keep.webp");
    std::fs::write(&precious, b"precious").unwrap();
    let p = precious.to_str().unwrap();
    let first = fetch(&laptop, &[&id, "-o", p]);
    let kept = std::fs::read(&precious).unwrap() == b"precious";
    assert!(kept, "fetch overwrote the user's file");
    assert_eq!(first, lab.path("keep (1).webp"));
    assert_eq!(sha512_hex(&first).unwrap(), sha);
    assert_eq!(fetch(&laptop, &[&id, "-o", p]), lab.path("keep (2).webp"));

    // -o DIR: the result's own name in it, never over another file either.
    let dir = lab.path("pictures");
    std::fs::create_dir(&dir).unwrap();
    let d = dir.to_str().unwrap();
    assert_eq!(fetch(&laptop, &[&id, "-o", d]), dir.join("picture.webp"));
    assert_eq!(
        fetch(&laptop, &[&id, "-o", d]),
        dir.join("picture (1).webp")
    );

    // A dangling symlink as the destination is taken too, and never written through.
    let link = lab.path("link.webp");
    std::os::unix::fs::symlink(lab.path("nowhere"), &link).unwrap();
    let via = fetch(&laptop, &[&id, "-o", link.to_str().unwrap()]);
    assert_eq!(via, lab.path("link (1).webp"));
    assert!(!lab.path("nowhere").exists(), "fetch wrote through a link");

    // --force replaces the file itself.
    let forced = fetch(&laptop, &[&id, "-o", p, "--force"]);
    assert_eq!(forced, precious);
    assert_eq!(sha512_hex(&precious).unwrap(), sha);
    // No `.part` is left behind anywhere.
    for d in [lab.path(""), dir.clone()] {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            assert!(!n.ends_with(".part"), "left behind: {n}");
        }
    }
}

#[test]
fn a_result_that_is_gone_is_not_reported_as_there() {
    let lab = Lab::new().unwrap();
    let (laptop, _converter) = pair(&lab);
    let (id, result) = delivered_picture(&lab, &laptop);
    let png = lab.path("picture.png");

    // Changed in place (same size): fetch checks what it copies and refuses it.
    let mut bytes = std::fs::read(&result).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&result, &bytes).unwrap();
    let dest = lab.path("copy.webp");
    let err = fails(&laptop, &["fetch", &id, "-o", dest.to_str().unwrap()]);
    assert!(err.contains("gone") && err.contains("dmc offer"), "{err}");
    assert!(!dest.exists());

    // Deleted: fetch fails with the way to convert it again, with or without -o.
    std::fs::remove_file(&result).unwrap();
    let err = fails(&laptop, &["fetch", &id]);
    assert!(err.contains("gone") && err.contains("dmc offer"), "{err}");
    let err = fails(&laptop, &["fetch", &id, "-o", dest.to_str().unwrap()]);
    assert!(err.contains("gone"), "{err}");

    // Offering the content again makes a new item, delivered anew.
    let (second, existing) = offer(&laptop, &png, false);
    assert!(!existing, "re-offer of a gone result returned the old item");
    assert_ne!(second, id);
    let item = laptop.wait_final(&second, LONG).unwrap();
    assert_eq!(item["phase"], "delivered", "{item:#}");
    assert!(Path::new(item["output_path"].as_str().unwrap()).is_file());

    // While that result is there, offering again finds it; --again makes a new item anyway.
    assert_eq!(offer(&laptop, &png, false), (second.clone(), true));
    let (third, existing) = offer(&laptop, &png, true);
    assert!(!existing);
    assert!(third != second && third != id);
    let item = laptop.wait_final(&third, LONG).unwrap();
    assert_eq!(item["phase"], "delivered", "{item:#}");
}

#[test]
fn dangling_symlinks_in_the_output_dir_neither_stall_nor_redirect_a_delivery() {
    let lab = Lab::new().unwrap();
    // The laptop alone first, so the links are in place before any converter can answer.
    let laptop = Node::start(&lab, "laptop", NodeOpts::default()).unwrap();
    let png = lab.path("picture.png");
    make_png(&png).unwrap();
    let (id, _) = offer(&laptop, &png, false);
    std::fs::create_dir_all(&laptop.output_dir).unwrap();
    let mut links = vec![(
        laptop.output_dir.join("picture.webp"),
        lab.path("nowhere-result"),
    )];
    for epoch in 0..=3 {
        links.push((
            laptop.output_dir.join(format!(".dmc-{id}-{epoch}.part")),
            lab.path(&format!("nowhere-part-{epoch}")),
        ));
    }
    for (link, target) in &links {
        std::os::unix::fs::symlink(target, link).unwrap();
    }
    let _converter = Node::start(
        &lab,
        "converter",
        NodeOpts {
            converter: true,
            peers: vec![laptop.addr().unwrap()],
            ..Default::default()
        },
    )
    .unwrap();

    let item = laptop.wait_final(&id, Duration::from_secs(60)).unwrap();
    assert_eq!(item["phase"], "delivered", "{item:#}");
    let out = PathBuf::from(item["output_path"].as_str().unwrap());
    assert_eq!(out, laptop.output_dir.join("picture (1).webp"));
    assert!(std::fs::symlink_metadata(&out).unwrap().is_file());
    for (link, target) in &links {
        assert_eq!(&std::fs::read_link(link).unwrap(), target, "link changed");
        assert!(
            std::fs::symlink_metadata(target).is_err(),
            "{} was written through a link",
            target.display()
        );
    }
}
