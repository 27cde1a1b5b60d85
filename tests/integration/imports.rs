//! The library's modules import each other without circles, read from the source with the
//! project's own tools (`cargo test`): a circle is where a layer stops being one, and where a
//! module can no longer move or be replaced alone.
//!
//! The graph is built from `src/` as Rust (syn), one node per module **file** (`store/mod.rs`
//! is `store`, `store/open.rs` is `store::open`; an inline `mod` belongs to its file):
//! - an edge a → b for every path in a's code that names something of b: a `use` tree, a path in
//!   a type, an expression or a pattern, and the `crate::`/`super::` paths inside macro calls
//!   (the `crawl_settings!` table names types from other modules); `crate::`, `self::`,
//!   `super::`, a child module's name and a name `use` made a module alias for are followed;
//! - a path is mapped to the module file that defines its item: the deepest module it names,
//!   and through the `pub use` re-exports of that module to where the item really is, so
//!   `crate::frontier::QueueEntry` depends on the module that defines `QueueEntry`;
//! - submodules are nodes of their own (the issue names store::chunk ↔ store::queue, two children
//!   of one folder, as a circle to open), and a parent that calls into its child while the child
//!   uses the parent's types is a circle too; but a parent's `mod` lines and its `pub use`
//!   re-exports of its own descendants are not imports by the parent's code (they are the
//!   folder saying what it exports), so they make no edge;
//! - code under `#[cfg(test)]` (unit tests, test-only modules and helpers) is left out: a test
//!   may reach anywhere to build its fixture; the layers are about the code that ships. Doc
//!   links and comments are not code either, and `::name` is always an extern crate;
//! - the binary (`main.rs` and its modules) is a crate of its own, checked the same way;
//! - the same graph is checked again between top-level modules, a folder counted whole, where
//!   `config → recrawl → config` was a circle though no one file closed it.
//!
//! The circles not opened yet are listed in [`ALLOWED`] and [`ALLOWED_TOP`], each by its
//! wrong-way import; the test fails on a circle left when those are taken out (naming it
//! a → b → … → a, each step with the path that makes it), and on a listed import that is gone
//! or no longer closes a circle, so the lists can only be brought down to empty.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;

/// The imports that close the circles not opened yet (issue 32), between module files: each the
/// one import of its circle that points the wrong way (a leaf's vocabulary still in the module
/// that uses it, a parent's helper its children reach back for). The goal is an empty list: a
/// circle opened takes its imports out, and the test says when one is left over.
const ALLOWED: &[(&str, &str)] = &[
    // store ↔ its children: the file names, tree keys and `Store` of store/mod.rs.
    ("store::flusher", "store"),
    ("store::marker", "store"),
    ("store::open", "store"),
    ("store::sled_copy", "store"),
    ("store::upgrade", "store"),
    ("store::upgrade_pages", "store"),
    // store::records ↔ store::versions: a record holds its `Version`, versions read records.
    ("store::records", "store::versions"),
    // store::open ↔ store::sled_copy: the lock check and the private copy ask each other.
    ("store::sled_copy", "store::open"),
    // copies ↔ worker::job: the worker signs a body for copies, copies judges a worker's outcome.
    ("copies", "worker::job"),
];

/// The same between top-level modules, a folder counted whole (`config → recrawl → config` was a
/// circle here, though no file of `recrawl` both used `config` and was used by it).
const ALLOWED_TOP: &[(&str, &str)] = &[
    // store → frontier: `Store` still owns the sled queue and seen-set (frontier/sled/), which
    // the frontier reaches through it; issue 32's archive seam takes them out of `Store`.
    ("store", "frontier"),
    // copies ↔ worker, as between files.
    ("copies", "worker"),
];

/// A module: its path from the crate root (`["store", "open"]`), and what its file says.
#[derive(Default, Debug)]
struct Module {
    /// The file, relative to `src/`, for messages.
    file: String,
    /// Child modules declared in the file (`mod queue;`, or inline `mod x { .. }` outside tests).
    children: BTreeSet<String>,
    /// Names its `pub use` items export, to the absolute path they stand for.
    exports: BTreeMap<String, Vec<String>>,
    /// Modules whose items it exports whole (`pub use x::*`).
    export_globs: Vec<Vec<String>>,
    /// Every path in its code as written, with the scope it is written in and whether it is a
    /// `pub use` (a re-export).
    paths: Vec<Found>,
}

/// One path found in a module's code.
#[derive(Debug, Clone)]
struct Found {
    /// The module path the code sits in (an inline module's path included), for `self`/`super`.
    scope: Vec<String>,
    /// The path's segments as written (`["super", "queue", "QueueEntry"]`).
    segments: Vec<String>,
    /// A `pub use` whose items are re-exported (not an import by the module's own code when the
    /// target is its descendant).
    reexport: bool,
}

/// The module graph of one crate: modules by path, and the edges between their files.
struct Graph {
    modules: BTreeMap<Vec<String>, Module>,
}

/// Whether `attrs` hold `#[cfg(test)]`.
fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Ident>()
                .is_ok_and(|ident| ident == "test")
    })
}

/// The flattened paths of a `use` tree, each with the name it binds (`None` for a glob).
fn use_paths(
    tree: &syn::UseTree,
    prefix: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_paths(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            if name == "self" {
                // `use a::b::{self, ..}` binds `b` itself.
                out.push((prefix.clone(), prefix.last().cloned()));
            } else {
                let mut path = prefix.clone();
                path.push(name.clone());
                out.push((path, Some(name)));
            }
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            let name = r.ident.to_string();
            if name != "self" {
                path.push(name);
            }
            out.push((path, Some(r.rename.to_string())));
        }
        syn::UseTree::Glob(_) => out.push((prefix.clone(), None)),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                use_paths(t, prefix, out);
            }
        }
    }
}

/// Paths written as tokens inside a macro call: `crate`, `self`, `super` or any identifier
/// followed by `::` and more identifiers; which of them are the crate's is decided later.
fn token_paths(tokens: TokenStream, out: &mut Vec<Vec<String>>) {
    // Flattened: identifiers and `::` pairs, anything else a break.
    #[derive(PartialEq)]
    enum Tok {
        Ident(String),
        Colons,
        Other,
    }
    fn flatten(tokens: TokenStream, out: &mut Vec<Tok>, out_paths: &mut Vec<Vec<String>>) {
        let mut iter = tokens.into_iter().peekable();
        while let Some(t) = iter.next() {
            match t {
                TokenTree::Ident(i) => out.push(Tok::Ident(i.to_string())),
                TokenTree::Punct(p) if p.as_char() == ':' => {
                    if matches!(iter.peek(), Some(TokenTree::Punct(q)) if q.as_char() == ':') {
                        iter.next();
                        out.push(Tok::Colons);
                    } else {
                        out.push(Tok::Other);
                    }
                }
                TokenTree::Group(g) => {
                    out.push(Tok::Other);
                    token_paths(g.stream(), out_paths);
                    out.push(Tok::Other);
                }
                _ => out.push(Tok::Other),
            }
        }
    }
    let mut toks = Vec::new();
    flatten(tokens, &mut toks, out);
    let mut i = 0;
    while i < toks.len() {
        let starts = matches!(toks[i], Tok::Ident(_)) && (i == 0 || toks[i - 1] != Tok::Colons);
        if !starts {
            i += 1;
            continue;
        }
        let mut path = Vec::new();
        let mut j = i;
        while let Some(Tok::Ident(name)) = toks.get(j) {
            path.push(name.clone());
            if toks.get(j + 1) == Some(&Tok::Colons) {
                j += 2;
            } else {
                break;
            }
        }
        if path.len() > 1 {
            out.push(path);
        }
        i = j + 1;
    }
}

/// Walks one file's items, collecting child modules, `use` trees and every other path, outside
/// `#[cfg(test)]`.
struct Collector<'a> {
    scope: Vec<String>,
    module: &'a mut Module,
    /// Child modules declared without a body, to be read from their own files.
    outlined: Vec<String>,
    /// Depth of inline modules, whose children are not files of their own.
    inline: usize,
}

impl Collector<'_> {
    fn push(&mut self, segments: Vec<String>, reexport: bool) {
        self.module.paths.push(Found {
            scope: self.scope.clone(),
            segments,
            reexport,
        });
    }
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs: &[syn::Attribute] = match item {
            syn::Item::Const(i) => &i.attrs,
            syn::Item::Enum(i) => &i.attrs,
            syn::Item::Fn(i) => &i.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Macro(i) => &i.attrs,
            syn::Item::Mod(i) => &i.attrs,
            syn::Item::Static(i) => &i.attrs,
            syn::Item::Struct(i) => &i.attrs,
            syn::Item::Trait(i) => &i.attrs,
            syn::Item::Type(i) => &i.attrs,
            syn::Item::Use(i) => &i.attrs,
            syn::Item::Union(i) => &i.attrs,
            _ => &[],
        };
        if !is_test(attrs) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_impl_item(&mut self, item: &'ast syn::ImplItem) {
        let attrs: &[syn::Attribute] = match item {
            syn::ImplItem::Const(i) => &i.attrs,
            syn::ImplItem::Fn(i) => &i.attrs,
            syn::ImplItem::Type(i) => &i.attrs,
            syn::ImplItem::Macro(i) => &i.attrs,
            _ => &[],
        };
        if !is_test(attrs) {
            syn::visit::visit_impl_item(self, item);
        }
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        // A module declared by this file is a child node if outlined, part of this file if
        // inline (its paths are this file's).
        let name = m.ident.to_string();
        match &m.content {
            None => {
                if self.inline == 0 {
                    self.outlined.push(name.clone());
                    self.module.children.insert(name);
                }
            }
            Some((_, items)) => {
                if self.inline == 0 {
                    self.module.children.insert(name.clone());
                }
                self.scope.push(name);
                self.inline += 1;
                for item in items {
                    self.visit_item(item);
                }
                self.inline -= 1;
                self.scope.pop();
            }
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        if u.leading_colon.is_some() {
            // `use ::sled::..`: an extern crate, even where a module of that name is in scope.
            return;
        }
        let reexport = !matches!(u.vis, syn::Visibility::Inherited);
        let mut found = Vec::new();
        use_paths(&u.tree, &mut Vec::new(), &mut found);
        for (path, name) in found {
            if reexport && self.inline == 0 {
                match &name {
                    Some(n) => {
                        self.module.exports.insert(n.clone(), path.clone());
                    }
                    None => self.module.export_globs.push(path.clone()),
                }
            }
            // A use binding a name is recorded with the name last, so aliases can be found;
            // a glob with its module path.
            self.push(path, reexport);
        }
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        if p.leading_colon.is_some() {
            return syn::visit::visit_path(self, p);
        }
        let segments: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        if segments.len() > 1 {
            self.push(segments, false);
        }
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        let mut found = Vec::new();
        token_paths(m.tokens.clone(), &mut found);
        for path in found {
            self.push(path, false);
        }
        syn::visit::visit_macro(self, m);
    }
}

impl Graph {
    /// Reads the crate whose root file is `root` (`lib.rs` or `main.rs`) from `files` (path
    /// relative to `src/` → text), following `mod` lines outside `#[cfg(test)]`.
    fn read(files: &BTreeMap<String, String>, root: &str) -> Graph {
        let mut modules = BTreeMap::new();
        let mut todo = vec![(Vec::<String>::new(), root.to_string())];
        while let Some((path, file)) = todo.pop() {
            let text = files
                .get(&file)
                .unwrap_or_else(|| panic!("{file}: declared but not found"));
            let ast = syn::parse_file(text).unwrap_or_else(|e| panic!("{file}: {e}"));
            let mut module = Module {
                file: file.clone(),
                ..Module::default()
            };
            let mut c = Collector {
                scope: path.clone(),
                module: &mut module,
                outlined: Vec::new(),
                inline: 0,
            };
            for item in &ast.items {
                c.visit_item(item);
            }
            // A root or `mod.rs` declares children beside it, `a/b.rs` in `a/b/`.
            let dir = match file.rsplit_once('/') {
                _ if file == root => String::new(),
                Some((dir, "mod.rs")) => format!("{dir}/"),
                Some((_, _)) | None => format!("{}/", file.trim_end_matches(".rs")),
            };
            for child in std::mem::take(&mut c.outlined) {
                let mut child_path = path.clone();
                child_path.push(child.clone());
                let flat = format!("{dir}{child}.rs");
                let nested = format!("{dir}{child}/mod.rs");
                let child_file = if files.contains_key(&flat) {
                    flat
                } else {
                    nested
                };
                todo.push((child_path, child_file));
            }
            modules.insert(path, module);
        }
        Graph { modules }
    }

    /// The module file (a key of `modules`) that the absolute `path` names an item of,
    /// following re-exports; `None` if it leaves the crate.
    fn resolve(&self, path: &[String], depth: usize) -> Option<Vec<String>> {
        if depth > 8 {
            return None;
        }
        // The deepest module file the path walks through.
        let mut at = 0;
        while at < path.len() && self.modules.contains_key(&path[..=at]) {
            at += 1;
        }
        let module = &self.modules[&path[..at]];
        let Some(next) = path.get(at) else {
            return Some(path[..at].to_vec());
        };
        if let Some(target) = module.exports.get(next) {
            let scope = &path[..at];
            if let Some(abs) = self.absolute(scope, target, &HashMap::new()) {
                let mut full = abs;
                full.extend_from_slice(&path[at + 1..]);
                if let Some(found) = self.resolve(&full, depth + 1) {
                    return Some(found);
                }
            }
        }
        for glob in &module.export_globs {
            if let Some(mut abs) = self.absolute(&path[..at], glob, &HashMap::new()) {
                abs.extend_from_slice(&path[at..]);
                if let Some(found) = self.resolve(&abs, depth + 1) {
                    if found != path[..at] && found.len() > at {
                        return Some(found);
                    }
                }
            }
        }
        Some(path[..at].to_vec())
    }

    /// A path as written in module `scope` made absolute (from the crate root), or `None` if
    /// it does not start inside the crate: `crate`, `self`, `super`, a child module of the
    /// scope, or a module alias of the file.
    fn absolute(
        &self,
        scope: &[String],
        segments: &[String],
        aliases: &HashMap<String, Vec<String>>,
    ) -> Option<Vec<String>> {
        let first = segments.first()?;
        let mut abs = match first.as_str() {
            "crate" => Vec::new(),
            "self" => scope.to_vec(),
            "super" => {
                let mut s = scope.to_vec();
                let mut rest = segments;
                while rest.first().is_some_and(|f| f == "super") {
                    s.pop()?;
                    rest = &rest[1..];
                }
                s.extend_from_slice(rest);
                return Some(s);
            }
            name if self.is_child(scope, name) => {
                let mut s = scope.to_vec();
                s.push(name.to_string());
                s.extend_from_slice(&segments[1..]);
                return Some(s);
            }
            name => aliases.get(name)?.clone(),
        };
        abs.extend_from_slice(&segments[1..]);
        Some(abs)
    }

    /// Whether `name` is a child module of the module (file or inline) at `scope`.
    fn is_child(&self, scope: &[String], name: &str) -> bool {
        // An inline module's children are inline too: only files' children are looked up.
        self.modules
            .get(scope)
            .is_some_and(|m| m.children.contains(name))
    }

    /// The edges between module files: from → to → one path that makes it, as written, with
    /// the file it is in.
    fn edges(&self) -> Edges {
        let mut edges = Edges::new();
        for (from, module) in &self.modules {
            // Names `use` bound to modules, file-wide (scoping inside functions ignored).
            let mut aliases = HashMap::new();
            for f in &module.paths {
                if let Some(abs) = self.absolute(&f.scope, &f.segments, &HashMap::new()) {
                    if self.modules.contains_key(&abs) {
                        aliases.insert(f.segments.last().unwrap().clone(), abs);
                    }
                }
            }
            for f in &module.paths {
                let Some(abs) = self.absolute(&f.scope, &f.segments, &aliases) else {
                    continue;
                };
                let Some(to) = self.resolve(&abs, 0) else {
                    continue;
                };
                let descendant = to.len() > from.len() && to.starts_with(from);
                if &to == from || (f.reexport && descendant) {
                    continue;
                }
                edges
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_insert_with(|| format!("`{}` in {}", f.segments.join("::"), module.file));
            }
        }
        edges
    }
}

/// A module's name in messages: `store::queue`, the root as `crate`.
fn name(path: &[String]) -> String {
    if path.is_empty() {
        "crate".into()
    } else {
        path.join("::")
    }
}

/// The strongly connected groups of more than one module (Tarjan), each sorted.
fn circles(edges: &Edges) -> Vec<Vec<Vec<String>>> {
    struct State<'a> {
        edges: &'a Edges,
        index: HashMap<&'a Vec<String>, usize>,
        low: HashMap<&'a Vec<String>, usize>,
        stack: Vec<&'a Vec<String>>,
        on_stack: BTreeSet<&'a Vec<String>>,
        groups: Vec<Vec<Vec<String>>>,
    }
    fn connect<'a>(s: &mut State<'a>, v: &'a Vec<String>) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flat_map(|m| m.keys()) {
            if !s.index.contains_key(w) {
                connect(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack.remove(w);
                group.push(w.clone());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.groups.push(group);
            }
        }
    }
    let mut s = State {
        edges,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        groups: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            connect(&mut s, v);
        }
    }
    s.groups.sort();
    s.groups
}

/// One shortest circle through the group's first module, as `a → b → … → a`, each step with
/// the path that makes it.
fn one_circle(group: &[Vec<String>], edges: &Edges) -> String {
    let start = &group[0];
    let inside: BTreeSet<&Vec<String>> = group.iter().collect();
    let mut came_from: HashMap<&Vec<String>, &Vec<String>> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    let mut last = None;
    'search: while let Some(v) = queue.pop_front() {
        for w in edges.get(v).into_iter().flat_map(|m| m.keys()) {
            if !inside.contains(w) {
                continue;
            }
            if w == start {
                last = Some(v);
                break 'search;
            }
            if !came_from.contains_key(w) {
                came_from.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    let mut chain = vec![start];
    let mut v = last.expect("a strongly connected group has a circle");
    while v != start {
        chain.push(v);
        v = came_from[v];
    }
    chain.push(start);
    chain.reverse();
    // `chain` runs start → … → start.
    let steps: Vec<String> = chain
        .windows(2)
        .map(|w| format!("{} → {} ({})", name(w[0]), name(w[1]), edges[w[0]][w[1]]))
        .collect();
    let names: Vec<String> = chain.iter().map(|p| name(p)).collect();
    format!("{}\n      {}", names.join(" → "), steps.join("\n      "))
}

/// The edges of a module graph: from → to → one path that makes the edge, as written, with
/// the file it is in.
type Edges = BTreeMap<Vec<String>, BTreeMap<Vec<String>, String>>;

/// What is wrong with a crate's circles against the `allowed` edges, one line each: a circle
/// left when the allowed edges are taken out (named a → b → … → a, each step with the path
/// that makes it), and an allowed edge that is no longer imported or no longer closes a circle.
fn unexpected(edges: &Edges, allowed: &[(&str, &str)]) -> Vec<String> {
    let key = |s: &str| -> Vec<String> { s.split("::").map(String::from).collect() };
    let mut reduced = edges.clone();
    for (from, to) in allowed {
        if let Some(out) = reduced.get_mut(&key(from)) {
            out.remove(&key(to));
        }
    }
    let named = |g: &Vec<Vec<String>>| -> Vec<String> { g.iter().map(|p| name(p)).collect() };
    let mut problems: Vec<String> = circles(&reduced)
        .iter()
        .map(|group| {
            format!(
                "an import circle among {:?}, e.g. {}",
                named(group),
                one_circle(group, &reduced)
            )
        })
        .collect();
    let groups = circles(edges);
    for (from, to) in allowed {
        let (f, t) = (key(from), key(to));
        if !edges.get(&f).is_some_and(|out| out.contains_key(&t)) {
            problems.push(format!(
                "{from} no longer imports {to}: take ({from:?}, {to:?}) out of the allowed list"
            ));
        } else if !groups.iter().any(|g| g.contains(&f) && g.contains(&t)) {
            problems.push(format!(
                "{from} → {to} no longer closes a circle: take ({from:?}, {to:?}) out of the \
                 allowed list"
            ));
        }
    }
    problems
}

/// The graph between the crate's top-level modules: a folder is one node with everything in it.
fn top_level(edges: &Edges) -> Edges {
    let mut top = Edges::new();
    for (from, out) in edges {
        for (to, why) in out {
            let (f, t) = (
                from[..from.len().min(1)].to_vec(),
                to[..to.len().min(1)].to_vec(),
            );
            if f != t {
                top.entry(f)
                    .or_default()
                    .entry(t)
                    .or_insert_with(|| why.clone());
            }
        }
    }
    top
}

/// Every `.rs` file under `src`, relative to it, as text.
fn sources(src: &Path) -> BTreeMap<String, String> {
    crate::support::files_under(src)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "rs"))
        .map(|f: PathBuf| {
            let rel = f.strip_prefix(src).unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&f).unwrap();
            (rel, text)
        })
        .collect()
}

#[test]
fn modules_import_each_other_without_circles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = sources(&src);
    let lib = Graph::read(&files, "lib.rs");
    let bin = Graph::read(&files, "main.rs");
    // Guards the reading: the modules are found, and known imports are edges.
    let edges = lib.edges();
    let key = |s: &str| -> Vec<String> { s.split("::").map(String::from).collect() };
    assert!(lib.modules.contains_key(&key("frontier::sled::queue")));
    assert!(
        edges[&key("engine")].contains_key(&key("scheduler")),
        "engine → scheduler not seen: {:?}",
        edges[&key("engine")].keys().collect::<Vec<_>>()
    );
    let mut problems = unexpected(&edges, ALLOWED);
    problems.extend(unexpected(&top_level(&edges), ALLOWED_TOP));
    problems.extend(unexpected(&bin.edges(), &[]));
    assert!(
        problems.is_empty(),
        "modules that import each other in a circle (docs/ARCHITECTURE.md, \"How the modules \
         depend on each other\"):\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_circle_check_can_fail() {
    // A small crate: `a` uses `b` through a re-export of its parent, `b` uses `a` back, and
    // `c` is declared and re-exported by its parent `p`, which its own code never uses.
    let files: BTreeMap<String, String> = [
        ("lib.rs", "mod a; mod b; mod p; pub use p::C;"),
        ("a.rs", "use crate::p::Thing; pub struct A;"),
        ("b.rs", "pub fn f() -> crate::a::A { crate::a::A }"),
        ("p/mod.rs", "mod c; pub use c::{C, Thing}; pub struct P;"),
        (
            "p/c.rs",
            "pub struct C; pub struct Thing(super::P); \
             #[cfg(test)] mod tests { use crate::a::A; }",
        ),
    ]
    .into_iter()
    .map(|(f, t)| (f.to_string(), t.to_string()))
    .collect();
    let key = |s: &str| -> Vec<String> { s.split("::").map(String::from).collect() };
    let edges = Graph::read(&files, "lib.rs").edges();
    // a's use goes through p's re-export to c; the parent's re-export is no edge; the test
    // module's use is left out.
    assert_eq!(edges[&key("a")].keys().collect::<Vec<_>>(), [&key("p::c")]);
    assert!(!edges.contains_key(&key("p")));
    assert_eq!(edges[&key("p::c")].keys().collect::<Vec<_>>(), [&key("p")]);
    assert!(unexpected(&edges, &[]).is_empty());
    // `::c` names an extern crate, even beside a module `c`.
    let mut extern_path = files.clone();
    extern_path.insert(
        "p/mod.rs".into(),
        "mod c; pub use c::{C, Thing}; pub struct P; use ::c::X; fn f() { ::c::g(); }".into(),
    );
    assert!(!Graph::read(&extern_path, "lib.rs")
        .edges()
        .contains_key(&key("p")));

    // c using a (outside a test) closes a → p::c → a; it is named, with the path of each step.
    let mut closed = files.clone();
    closed.insert(
        "p/c.rs".into(),
        "pub struct C; pub struct Thing(super::P); fn g() { let _ = crate::b::f(); }".into(),
    );
    let closed_edges = Graph::read(&closed, "lib.rs").edges();
    let problems = unexpected(&closed_edges, &[]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("[\"a\", \"b\", \"p::c\"]")
            && problems[0].contains("a → p::c → b → a"),
        "{problems:?}"
    );
    assert!(
        problems[0].contains("`crate::b::f` in p/c.rs"),
        "{problems:?}"
    );
    // With its wrong-way import allowed, it passes; an allowed import that is gone, or that no
    // longer closes a circle, fails: the list only shrinks.
    assert!(unexpected(&closed_edges, &[("p::c", "b")]).is_empty());
    let gone = unexpected(&closed_edges, &[("p::c", "b"), ("p::c", "a")]);
    assert_eq!(gone.len(), 1, "{gone:?}");
    assert!(gone[0].contains("p::c no longer imports a"), "{gone:?}");
    let open = unexpected(&edges, &[("a", "p::c")]);
    assert_eq!(open.len(), 1, "{open:?}");
    assert!(
        open[0].contains("a → p::c no longer closes a circle"),
        "{open:?}"
    );
    // Allowing an import outside the circle leaves the circle named.
    assert_eq!(unexpected(&closed_edges, &[("p::c", "p")]).len(), 2);

    // Between top-level modules a folder counts whole: `a` uses `q`, and `q::r` (which `q`
    // never uses) uses `a`: no circle between files, one between `a` and `q`.
    let mut folder = files.clone();
    folder.insert("lib.rs".into(), "mod a; mod b; mod p; mod q;".into());
    folder.insert("a.rs".into(), "pub struct A(crate::q::Q);".into());
    folder.insert("q/mod.rs".into(), "pub mod r; pub struct Q;".into());
    folder.insert("q/r.rs".into(), "fn g(_: crate::a::A) {}".into());
    let folder_edges = Graph::read(&folder, "lib.rs").edges();
    assert!(unexpected(&folder_edges, &[]).is_empty());
    let top = unexpected(&top_level(&folder_edges), &[]);
    assert_eq!(top.len(), 1, "{top:?}");
    assert!(top[0].contains("a → q → a"), "{top:?}");

    // A path inside a macro call counts too.
    let mut in_macro = files.clone();
    in_macro.insert(
        "p/c.rs".into(),
        "pub struct C; pub struct Thing(super::P); fn g() { m!(x: crate::b::f()); }".into(),
    );
    assert_eq!(
        unexpected(&Graph::read(&in_macro, "lib.rs").edges(), &[]).len(),
        1
    );
}
