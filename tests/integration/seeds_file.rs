//! `crawl --seeds-file`: many seeds from a file or stdin, bad lines named and skipped (or the
//! file refused with `--strict`), each seed's site in scope and no other, more seeds on a resume.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use politecrawl::serve::{Reply, SiteServer};

use super::support::{route_server, run, shared, stderr, tempdir, BIN};

/// A site whose `/` links `/a` and every URL in `links`.
fn site(links: Vec<String>) -> SiteServer {
    route_server(Arc::new(move |r| match r.path() {
        "/" => {
            let a: String = links
                .iter()
                .map(|l| format!(r#"<a href="{l}">x</a>"#))
                .collect();
            Some(Reply::html(format!(r#"<a href="/a">a</a>{a}"#)))
        }
        "/a" | "/b" => Some(Reply::html("<p>leaf</p>")),
        _ => None,
    }))
}

fn paths(s: &SiteServer) -> Vec<String> {
    let mut v: Vec<String> = s.requests().iter().map(|r| r.path().to_string()).collect();
    v.sort();
    v
}

#[test]
fn seeds_from_a_file_are_crawled_each_in_its_own_scope_and_bad_lines_are_named() {
    let _timing = shared();
    let outside = site(vec![]);
    let b = site(vec![]);
    // A links to B's /b (a seed's site: followed) and to a site no seed names (not followed).
    let a = site(vec![
        format!("{}/b", b.origin()),
        format!("{}/", outside.origin()),
    ]);
    let c = site(vec![]);
    let dir = tempdir();
    let d = dir.path();
    let list = format!(
        "# sites to crawl\n{}/\n\n{}/\nnot a url\n  {}/  \nftp://x.test/\n{}/\n",
        a.origin(),
        b.origin(),
        c.origin(),
        a.origin()
    );
    std::fs::write(d.join("seeds.txt"), &list).unwrap();

    // --strict refuses it whole, naming the bad lines, and makes nothing.
    let args = [
        "crawl",
        "--seeds-file",
        "seeds.txt",
        "--strict",
        "--db",
        "s.db",
    ];
    let out = run(&args, d);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("2 bad lines") && err.contains("line 5") && err.contains("line 7"),
        "{err}"
    );
    assert!(!d.join("s.db").exists());
    assert!(paths(&a).is_empty());

    let args = [
        "crawl",
        "--seeds-file",
        "seeds.txt",
        "--db",
        "s.db",
        "--rate",
        "0",
    ];
    let out = run(&args, d);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("line 5") && err.contains("line 7") && err.contains("skipped"),
        "{err}"
    );
    assert!(
        err.contains("seeds file: 4 seeds (3 new to this crawl), 2 bad lines skipped"),
        "{err}"
    );
    assert_eq!(paths(&a), ["/", "/a", "/robots.txt"]);
    assert_eq!(
        paths(&b),
        ["/", "/a", "/b", "/robots.txt"],
        "B's /b, found on A, under B's scope"
    );
    assert_eq!(paths(&c), ["/", "/a", "/robots.txt"]);
    assert!(paths(&outside).is_empty(), "no seed names it");

    // More seeds on a resume, from stdin.
    let e = site(vec![]);
    let mut child = Command::new(BIN)
        .args(["crawl", "--seeds-file", "-", "--db", "s.db", "--rate", "0"])
        .current_dir(d)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let more = format!("{}/\n{}/\n", e.origin(), a.origin());
    child
        .stdin
        .take()
        .unwrap()
        .write_all(more.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(paths(&e), ["/", "/a", "/robots.txt"]);
    assert_eq!(paths(&a).len(), 3, "A's pages were not fetched again");
}

#[test]
fn a_seed_line_with_scope_prefix_keeps_its_origin_under_its_directory() {
    let _timing = shared();
    let docs = route_server(Arc::new(|r| match r.path() {
        "/docs/intro.html" => Some(Reply::html(
            r#"<a href="/docs/more.html">m</a><a href="/blog/x">b</a><a href="/">home</a>"#,
        )),
        "/docs/more.html" | "/blog/x" | "/" => Some(Reply::html("<p>leaf</p>")),
        _ => None,
    }));
    let whole = site(vec!["/b".into()]);
    let dir = tempdir();
    let list = format!(
        "{}/docs/intro.html scope=prefix\n{}/\n",
        docs.origin(),
        whole.origin()
    );
    std::fs::write(dir.path().join("seeds.txt"), list).unwrap();
    let args = [
        "crawl",
        "--seeds-file",
        "seeds.txt",
        "--db",
        "p.db",
        "--rate",
        "0",
    ];
    let out = run(&args, dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        paths(&docs),
        ["/docs/intro.html", "/docs/more.html", "/robots.txt"],
        "only under /docs/ on the prefix seed's origin"
    );
    assert_eq!(
        paths(&whole),
        ["/", "/a", "/b", "/robots.txt"],
        "the whole site"
    );
    let out = run(&["export", "--db", "p.db", "--skipped"], dir.path());
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(
        report.contains(&format!(
            r#""url":"{}/blog/x","reason":"out_of_scope""#,
            docs.origin()
        )),
        "{report}"
    );
    // A bad word after a URL is named, and the line skipped.
    std::fs::write(
        dir.path().join("bad.txt"),
        format!("{}/ depth=2\n", whole.origin()),
    )
    .unwrap();
    let args = [
        "crawl",
        "--seeds-file",
        "bad.txt",
        "--db",
        "p.db",
        "--strict",
    ];
    let out = run(&args, dir.path());
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("\"depth=2\" after the URL"),
        "{}",
        stderr(&out)
    );
}
