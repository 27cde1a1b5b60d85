//! `export --fields` and `--select` on pages with known answers (a Latin-1 page, a page whose
//! links are inside `<noscript>`, a page that is not HTML), read back with jq and pandas; and
//! computed from the stored bodies, so the export sends the server nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use politecrawl::serve::{Reply, Request};
use serde_json::Value;

use crate::support::*;

const INDEX: &str = r#"<!doctype html><html lang="en"><head><title>Fixture index</title>
<meta name="description" content="Pages with known answers.">
<link rel="canonical" href="/">
</head><body><h1>Index</h1>
<p>See <a href="latin1.html">the Latin-1 page</a>, <a href="noscript.html">the noscript page</a>
and <a href="data.json">some data</a>.</p>
<p class="price">3.50</p><p class="price">4.00</p>
</body></html>"#;

const NOSCRIPT: &str = r#"<html><head><title>No script</title></head><body>
<script>document.write('<a href="/from-script.html">x</a>')</script>
<noscript><a href="/hidden.html">Hidden</a> <iframe src="/frame.html"></iframe></noscript>
<h1>Links for readers without scripts</h1></body></html>"#;

/// A page in ISO-8859-1 that says so only in its `<meta>` (its Content-Type has no charset).
fn latin1() -> Vec<u8> {
    let mut page =
        b"<html lang=\"fr\"><head><meta charset=\"iso-8859-1\"><title>Caf\xe9 cr\xe8me</title>\
<meta name=\"description\" content=\"\xc0 la carte\"></head><body><h1>Men\xfb</h1>\
<p class=\"price\">2,50 \xa4</p></body></html>"
            .to_vec();
    page.extend_from_slice(b"\n");
    page
}

fn pages() -> politecrawl::serve::Route {
    Arc::new(|r: &Request| {
        Some(match r.path() {
            "/" => Reply::html(INDEX),
            "/latin1.html" => Reply::new(200, "text/html", latin1()),
            "/noscript.html" => Reply::html(NOSCRIPT),
            "/hidden.html" | "/frame.html" => Reply::html("<title>t</title>"),
            "/data.json" => Reply::new(200, "application/json", r#"{"title":"not a page"}"#),
            _ => Reply::new(404, "text/plain", "no"),
        })
    })
}

/// The crawl of [`pages`] in `dir`; returns the server (to count its requests) and the db.
fn crawled(dir: &Path) -> (politecrawl::serve::SiteServer, std::path::PathBuf) {
    let server = route_server(pages());
    let db = dir.join("fields.db");
    let config = fast_config(&db, &format!("{}/", server.origin()));
    crawl(&config);
    (server, db)
}

const ALL: &str = "title,text,markdown,links,lang,canonical,description";

#[test]
fn fields_and_selects_have_the_known_answers_in_json_lines_and_csv() {
    let dir = tempdir();
    let (server, db) = crawled(dir.path());
    let origin = server.origin();
    let requests = server.requests().len();
    let (db, out, csv) = (
        db.to_str().unwrap(),
        dir.path().join("pages.jsonl"),
        dir.path().join("pages.csv"),
    );
    let selects = ["--select", "price=.price", "--select", "frames=iframe@src"];
    let args = [&["--db", db, "--fields", ALL][..], &selects[..]].concat();
    crate::export::export(
        dir.path(),
        &[&args[..], &["--out", out.to_str().unwrap()]].concat(),
    );
    crate::export::export(
        dir.path(),
        &[
            &args[..],
            &["--format", "csv", "--out", csv.to_str().unwrap()],
        ]
        .concat(),
    );
    assert_eq!(
        server.requests().len(),
        requests,
        "the export reads the stored bodies, never the server"
    );

    let text = std::fs::read_to_string(&out).unwrap();
    let lines: BTreeMap<String, Value> = text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["url"].as_str().unwrap().replace(&origin, ""), v)
        })
        .collect();
    // The fields asked for, in that order, and nothing else (no body).
    let first = text.lines().next().unwrap();
    let at = |k: &str| first.find(&format!("\"{k}\":")).unwrap_or(usize::MAX);
    let keys: Vec<&str> = ["url"]
        .into_iter()
        .chain(ALL.split(','))
        .chain(["price", "frames"])
        .collect();
    let mut by_place = keys.clone();
    by_place.sort_by_key(|k| at(k));
    assert_eq!(by_place, keys, "{first}");
    let want = keys.len();
    let keys = serde_json::from_str::<serde_json::Map<String, Value>>(first)
        .unwrap()
        .len();
    assert_eq!(keys, want, "only the fields asked for (no body)");

    let index = &lines["/"];
    assert_eq!(index["title"], "Fixture index");
    assert_eq!(index["lang"], "en");
    assert_eq!(index["description"], "Pages with known answers.");
    assert_eq!(index["canonical"], format!("{origin}/"));
    assert_eq!(
        index["links"],
        serde_json::json!([
            format!("{origin}/"),
            format!("{origin}/latin1.html"),
            format!("{origin}/noscript.html"),
            format!("{origin}/data.json")
        ])
    );
    assert_eq!(index["price"], serde_json::json!(["3.50", "4.00"]));
    assert!(
        index["text"]
            .as_str()
            .unwrap()
            .contains("See the Latin-1 page, the noscript page"),
        "{}",
        index["text"]
    );
    assert!(
        index["markdown"].as_str().unwrap().starts_with(&format!(
            "# Index\n\nSee [the Latin-1 page]({origin}/latin1.html)"
        )),
        "{}",
        index["markdown"]
    );

    let latin = &lines["/latin1.html"];
    assert_eq!(
        latin["title"], "Café crème",
        "decoded by its <meta charset>"
    );
    assert_eq!(latin["description"], "À la carte");
    assert_eq!(latin["lang"], "fr");
    assert_eq!(latin["price"], serde_json::json!(["2,50 ¤"]));
    assert_eq!(latin["text"], "Menû\n\n2,50 ¤");

    let ns = &lines["/noscript.html"];
    assert_eq!(
        ns["links"],
        serde_json::json!([
            format!("{origin}/hidden.html"),
            format!("{origin}/frame.html")
        ]),
        "links inside <noscript> are links; none from the script"
    );
    assert_eq!(ns["frames"], serde_json::json!(["/frame.html"]));
    assert!(ns["text"].as_str().unwrap().contains("Hidden"));

    let data = &lines["/data.json"];
    assert_eq!(data["title"], Value::Null, "not HTML: nothing computed");
    assert_eq!(data["price"], serde_json::json!([]));

    // jq reads every line and picks fields.
    let jq = Command::new("jq")
        .args(["-r", "select(.title != null) | .title"])
        .arg(&out)
        .output()
        .expect("jq (apt-get install jq; .ci/run installs it)");
    assert!(jq.status.success(), "{}", stderr(&jq));
    let mut titles: Vec<String> = String::from_utf8(jq.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    titles.sort();
    assert_eq!(
        titles,
        ["Café crème", "Fixture index", "No script", "t", "t"]
    );

    // pandas reads both files into the same table.
    let script = r#"
import sys, pandas as pd
j = pd.read_json(sys.argv[1], lines=True)
c = pd.read_csv(sys.argv[2], keep_default_na=False)
assert list(c.columns) == list(j.columns), (list(c.columns), list(j.columns))
j = j.set_index('url'); c = c.set_index('url')
s = lambda v: v if isinstance(v, str) else ''
l = lambda v: v if isinstance(v, list) else []
for url in j.index:
    assert c.loc[url, 'title'] == s(j.loc[url, 'title']), url
    assert c.loc[url, 'links'].split() == l(j.loc[url, 'links']), url
    assert c.loc[url, 'price'] == '\n'.join(l(j.loc[url, 'price'])), url
    assert c.loc[url, 'markdown'] == s(j.loc[url, 'markdown']), url
print(len(j), j.loc[sys.argv[3] + '/latin1.html', 'title'])
"#;
    let py = Command::new("python3")
        .args([
            "-c",
            script,
            out.to_str().unwrap(),
            csv.to_str().unwrap(),
            &origin,
        ])
        .output()
        .expect("python3 with pandas (pip install pandas; .ci/run installs it)");
    assert!(py.status.success(), "pandas: {}", stderr(&py));
    assert_eq!(String::from_utf8(py.stdout).unwrap().trim(), "6 Café crème");
}

#[test]
fn fields_pick_own_columns_and_bad_names_are_refused() {
    let dir = tempdir();
    let (_server, db) = crawled(dir.path());
    let db = db.to_str().unwrap();
    // The format's own fields, in the order asked, url first; the body as stored.
    let out = crate::export::export(
        dir.path(),
        &[
            "--db",
            db,
            "--fields",
            "status,title",
            "--fields",
            "body",
            "--status",
            "200",
        ],
    );
    let first = String::from_utf8(out.stdout).unwrap();
    let first = first.lines().next().unwrap();
    assert!(
        first.starts_with(r#"{"url":"#) && first.contains(r#","status":200,"title":"#),
        "{first}"
    );
    assert!(first.contains(r#""body":"<"#), "{first}");
    // --select alone: every usual column, then the select.
    let out = crate::export::export(
        dir.path(),
        &["--db", db, "--format", "csv", "--select", "h1=h1"],
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    let header = csv.lines().next().unwrap();
    assert_eq!(
        header,
        format!("{},h1", politecrawl::export::csv::COLUMNS.join(","))
    );
    for (args, msg) in [
        (&["--fields", "titel"][..], "no field \"titel\""),
        (&["--select", "status=p"][..], "that name is taken"),
        (&["--select", "x=p[["][..], "not a CSS selector"),
        (
            &[
                "--fields",
                "title",
                "--format",
                "warc",
                "--out",
                "x.warc.gz",
            ][..],
            "apply to --format jsonl and csv",
        ),
    ] {
        let out = run(&[&["export", "--db", db][..], args].concat(), dir.path());
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr(&out).contains(msg), "{args:?}: {}", stderr(&out));
    }
}
