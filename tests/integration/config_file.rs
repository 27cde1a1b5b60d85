//! `crawl --config FILE` and `politecrawl config`: a crawl's settings printed as TOML crawl the
//! same way again, flags on the command line win over the file, and a bad key or value is an
//! error naming its line.

use std::sync::Arc;

use politecrawl::serve::Reply;

use super::support::{route_server, run, shared, stderr, tempdir};

fn settings(dir: &std::path::Path, db: &str) -> serde_json::Value {
    let out = run(&["status", "--db", db, "--json"], dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut s = v["settings"].take();
    s.as_object_mut().unwrap().remove("db");
    s
}

#[test]
fn a_crawls_printed_settings_crawl_the_same_way_and_flags_win_over_the_file() {
    let _timing = shared();
    let site = route_server(Arc::new(|r| match r.path() {
        "/" => Some(Reply::html(
            r#"<a href="/docs/a">a</a><a href="/other">o</a>"#,
        )),
        "/docs/a" | "/other" => Some(Reply::html("<p>leaf</p>")),
        _ => None,
    }));
    let dir = tempdir();
    let d = dir.path();
    let seed = format!("{}/", site.origin());
    let args = [
        "crawl",
        &seed,
        "--db",
        "a.db",
        "--rate",
        "50",
        "--include",
        "/docs/",
        "--header",
        "X-Test: from-a",
        "--max-depth",
        "3",
        "--timeout",
        "20s",
        "--max-body",
        "1MiB",
        "--sitemaps",
        "--no-cookies",
    ];
    let out = run(&args, d);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = run(&["config", "--db", "a.db"], d);
    assert!(printed.status.success(), "{}", stderr(&printed));
    let toml = String::from_utf8(printed.stdout).unwrap();
    for line in [
        format!("seeds = [\"{seed}\"]"),
        "rate = 50".into(),
        "include = [\"/docs/\"]".into(),
        "header = [\"X-Test: from-a\"]".into(),
        "timeout = \"20s\"".into(),
        "sitemaps = true".into(),
        "max-body = 1048576".into(),
    ] {
        assert!(toml.lines().any(|l| l == line), "{line:?} in\n{toml}");
    }
    std::fs::write(d.join("crawl.toml"), &toml).unwrap();

    let before = site.requests().len();
    let out = run(&["crawl", "--config", "crawl.toml", "--db", "b.db"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        settings(d, "b.db"),
        settings(d, "a.db"),
        "the same settings"
    );
    let again: Vec<_> = site.requests()[before..].to_vec();
    let mut paths: Vec<&str> = again.iter().map(|r| r.path()).collect();
    paths.sort();
    assert_eq!(paths, ["/", "/docs/a", "/robots.txt"], "the same crawl");
    assert!(again
        .iter()
        .all(|r| r.headers.contains(&("x-test".into(), "from-a".into()))));

    // The command line wins: a flag, a list and the seeds.
    let other = format!("{}/other", site.origin());
    let args = [
        "crawl",
        "--config",
        "crawl.toml",
        "--db",
        "c.db",
        "--rate",
        "7",
        "--header",
        "X-Test: from-cli",
        &other,
    ];
    let out = run(&args, d);
    assert!(out.status.success(), "{}", stderr(&out));
    let c = settings(d, "c.db");
    assert_eq!(c["rate"], 7.0);
    assert_eq!(c["headers"], serde_json::json!(["X-Test: from-cli"]));
    assert_eq!(c["seeds"], serde_json::json!([other]));
    assert_eq!(c["max_depth"], 3, "the rest from the file");
}

#[test]
fn a_bad_key_or_value_is_named_with_its_line_and_nothing_is_made() {
    let _timing = shared();
    let dir = tempdir();
    let d = dir.path();
    for (text, words) in [
        (
            "rate = 2\nmax-page = 3\n",
            "c.toml line 2: unknown key \"max-page\"; did you mean \"max-pages\"?",
        ),
        (
            "\n\nrate = \"fast\"\n",
            "c.toml line 3: rate: invalid value 'fast' for '--rate <R>'",
        ),
        (
            "sitemaps = \"yes\"\n",
            "c.toml line 1: sitemaps: invalid value 'yes'",
        ),
        (
            "no-progress = 3\n",
            "c.toml line 1: no-progress is true or false",
        ),
        (
            "header = 5\nscope = \"planet\"\n",
            "c.toml line 2: scope: invalid value 'planet'",
        ),
        ("timeout = [\n", "c.toml line 1: unclosed array"),
        ("config = \"other.toml\"\n", "cannot name another one"),
    ] {
        std::fs::write(d.join("c.toml"), text).unwrap();
        let out = run(
            &[
                "crawl",
                "http://127.0.0.1:9/",
                "--config",
                "c.toml",
                "--db",
                "x.db",
            ],
            d,
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{text:?}: {err}");
        assert!(err.contains(words), "{text:?}: {err}");
        assert!(!d.join("x.db").exists(), "{text:?}: nothing made");
    }
    let out = run(&["crawl", "--config", "missing.toml"], d);
    assert!(
        stderr(&out).contains("missing.toml: cannot read it"),
        "{}",
        stderr(&out)
    );
}
