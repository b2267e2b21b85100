//! Generates the component catalog behind `logagent list` and the reference
//! pages under `docs/reference/` from the config structs themselves: the list
//! of types in `src/config/components.rs`, then each type's config struct as
//! the compiler sees it (its fields, their types, their `serde` attributes,
//! their `default = "fn"` functions and their doc comments). Nothing is kept
//! by hand, so the listing cannot drift from what the config accepts (the
//! `catalog` tests compare it with serde's own list of fields).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use quote::ToTokens;
use syn::{Attribute, Expr, Fields, GenericArgument, Item, Lit, PathArguments, Type};

/// The component crates' source trees, with the crate name `use` lines give them.
const CRATES: &[(&str, &str)] = &[
    ("logagent_core", "crates/core/src"),
    ("logagent_codecs", "crates/codecs/src"),
    ("logagent_sources", "crates/sources/src"),
    ("logagent_transforms", "crates/transforms/src"),
    ("logagent_sinks", "crates/sinks/src"),
    ("logagent_kubernetes", "crates/kubernetes/src"),
];

/// How a leaf type is described to users (types with hand-written `Deserialize`).
const LEAF_TYPES: &[(&str, &str)] = &[
    ("String", "string"),
    ("str", "string"),
    ("bool", "bool"),
    ("usize", "integer"),
    ("u64", "integer"),
    ("u32", "integer"),
    ("u16", "integer"),
    ("u8", "integer"),
    ("i64", "integer"),
    ("i32", "integer"),
    ("f64", "number"),
    ("f32", "number"),
    ("PathBuf", "path"),
    ("SocketAddr", "address (`host:port`)"),
    ("ByteSize", "size (`64KiB`, `1MiB`, or bytes)"),
    ("HumanDuration", "duration (`500ms`, `5s`, `1m`)"),
    ("Duration", "duration (`500ms`, `5s`, `1m`)"),
    ("Zone", "time zone (`UTC`, `local`, `+09:00`, `Asia/Tokyo`)"),
    (
        "Secret",
        "secret (a string; `${VAR}` or a `*_file` key keeps it out of the file)",
    ),
    ("Value", "any value"),
    ("Table", "table"),
];

struct Def {
    /// The crate's source dir.
    root: &'static str,
    file: PathBuf,
    item: Item,
}

struct Index {
    defs: Vec<Def>,
}

impl Index {
    fn load() -> Index {
        let mut defs = Vec::new();
        for (_, root) in CRATES {
            let mut files = Vec::new();
            walk(Path::new(root), &mut files);
            files.sort();
            for file in files {
                let Ok(text) = std::fs::read_to_string(&file) else {
                    continue;
                };
                let Ok(parsed) = syn::parse_file(&text) else {
                    continue;
                };
                for item in parsed.items {
                    collect(root, &file, item, &mut defs);
                }
            }
        }
        Index { defs }
    }

    /// The struct or enum `name`, preferring `root`'s crate and files near `near`.
    fn find(&self, name: &str, root: &str, near: &Path) -> Option<&Def> {
        let mut best: Option<(usize, &Def)> = None;
        for d in &self.defs {
            let ident = match &d.item {
                Item::Struct(s) => &s.ident,
                Item::Enum(e) => &e.ident,
                _ => continue,
            };
            if ident != name {
                continue;
            }
            let near_dir = near.parent().unwrap_or(near);
            let score = if d.file == near {
                4
            } else if d.root == root && d.file.starts_with(near_dir) {
                3
            } else if d.root == root {
                2
            } else if d.root == "crates/core/src" {
                1
            } else {
                0
            };
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, d));
            }
        }
        best.map(|(_, d)| d)
    }

    /// The function `name` (a `default = "name"`), from the same file first.
    fn find_fn(&self, name: &str, file: &Path, root: &str) -> Option<&syn::ItemFn> {
        let name = name.rsplit("::").next().unwrap_or(name);
        let mut fallback = None;
        for d in &self.defs {
            if let Item::Fn(f) = &d.item
                && f.sig.ident == name
            {
                if d.file == file {
                    return Some(f);
                }
                if d.root == root {
                    fallback = Some(f);
                }
            }
        }
        fallback
    }

    /// The field initializers of `impl Default for name` (a struct literal).
    fn default_impl(&self, name: &str, file: &Path) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for d in &self.defs {
            let Item::Impl(imp) = &d.item else { continue };
            if d.file != file {
                continue;
            }
            let is_default = imp
                .trait_
                .as_ref()
                .is_some_and(|(_, p, _)| p.segments.last().is_some_and(|s| s.ident == "Default"));
            let self_name = imp.self_ty.to_token_stream().to_string();
            if !is_default || self_name != name {
                continue;
            }
            for it in &imp.items {
                let syn::ImplItem::Fn(f) = it else { continue };
                if let Some(syn::Stmt::Expr(Expr::Struct(lit), None)) = f.block.stmts.last() {
                    for fv in &lit.fields {
                        if let syn::Member::Named(id) = &fv.member {
                            out.insert(id.to_string(), render_expr(&fv.expr));
                        }
                    }
                }
            }
        }
        out
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn collect(root: &'static str, file: &Path, item: Item, defs: &mut Vec<Def>) {
    match item {
        Item::Mod(m) => {
            // Inline modules (not tests).
            let is_test = m
                .attrs
                .iter()
                .any(|a| a.to_token_stream().to_string().contains("test"));
            if let (Some((_, items)), false) = (m.content, is_test) {
                for i in items {
                    collect(root, file, i, defs);
                }
            }
        }
        item @ (Item::Struct(_) | Item::Enum(_) | Item::Fn(_) | Item::Impl(_)) => defs.push(Def {
            root,
            file: file.to_path_buf(),
            item,
        }),
        _ => {}
    }
}

/// The text of the `///` doc comments.
fn docs(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for a in attrs {
        if !a.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(nv) = &a.meta
            && let Expr::Lit(syn::ExprLit {
                lit: Lit::Str(s), ..
            }) = &nv.value
        {
            lines.push(s.value().trim().to_owned());
        }
    }
    lines.join(" ").trim().to_owned()
}

/// `#[serde(...)]` settings of an item or field: flags and `key = "value"` pairs.
#[derive(Default)]
struct Serde {
    flags: HashSet<String>,
    values: BTreeMap<String, String>,
    /// Every `alias = "..."`.
    aliases: Vec<String>,
}

fn serde_attrs(attrs: &[Attribute]) -> Serde {
    let mut s = Serde::default();
    for a in attrs {
        if !a.path().is_ident("serde") {
            continue;
        }
        let _ = a.parse_nested_meta(|meta| {
            let key = meta.path.to_token_stream().to_string();
            if meta.input.peek(syn::Token![=]) {
                let v: Lit = meta.value()?.parse()?;
                if let Lit::Str(v) = v {
                    if key == "alias" {
                        s.aliases.push(v.value());
                    } else {
                        s.values.insert(key, v.value());
                    }
                }
            } else if meta.input.peek(syn::token::Paren) {
                // e.g. rename(deserialize = "..."): skip the group.
                let _ = meta.parse_nested_meta(|_| Ok(()));
            } else {
                s.flags.insert(key);
            }
            Ok(())
        });
    }
    s
}

fn rename(name: &str, rule: Option<&str>) -> String {
    match rule {
        Some("snake_case") => snake(name),
        Some("lowercase") => name.to_lowercase(),
        Some("UPPERCASE") => name.to_uppercase(),
        Some("kebab-case") => snake(name).replace('_', "-"),
        Some("SCREAMING_SNAKE_CASE") => snake(name).to_uppercase(),
        _ => name.to_owned(),
    }
}

fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// One key of a listing.
struct Key {
    key: String,
    ty: String,
    default: Option<String>,
    required: bool,
    doc: String,
}

/// The generic arguments of a path segment.
fn args(seg: &syn::PathSegment) -> Vec<&Type> {
    match &seg.arguments {
        PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|g| match g {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) => p.path.segments.last(),
        _ => None,
    }
}

struct Walker<'a> {
    index: &'a Index,
    keys: Vec<Key>,
    /// Types being expanded (no cycles).
    stack: Vec<String>,
}

impl Walker<'_> {
    /// Describes `ty` for users; pushes the keys of nested tables under `prefix`.
    fn describe(&mut self, ty: &Type, prefix: &str, root: &'static str, file: &Path) -> String {
        let Some(seg) = last_segment(ty) else {
            return ty.to_token_stream().to_string();
        };
        let name = seg.ident.to_string();
        let a = args(seg);
        match (name.as_str(), a.as_slice()) {
            ("Option" | "Box" | "Arc", [inner]) => self.describe(inner, prefix, root, file),
            ("Vec", [inner]) => {
                let d = self.describe(inner, &format!("{prefix}[]"), root, file);
                format!("list of {}", plural(&d))
            }
            ("BTreeMap" | "HashMap" | "IndexMap", [_, v]) => {
                let d = self.describe(v, &format!("{prefix}.<name>"), root, file);
                format!("table of {}", plural(&d))
            }
            _ => {
                if let Some((_, d)) = LEAF_TYPES.iter().find(|(n, _)| *n == name) {
                    return (*d).to_owned();
                }
                let Some(def) = self.index.find(&name, root, file) else {
                    return name;
                };
                if self.stack.contains(&name) || self.stack.len() > 4 {
                    return "table".to_owned();
                }
                self.stack.push(name.clone());
                let (root, file) = (def.root, def.file.clone());
                let d = match &def.item {
                    Item::Struct(s) => {
                        if has_derive(&s.attrs, "Deserialize") {
                            let s = s.clone();
                            self.struct_keys(&s, prefix, root, &file, None);
                            "table".to_owned()
                        } else {
                            first_sentence(&docs(&s.attrs)).unwrap_or(name)
                        }
                    }
                    Item::Enum(e) => {
                        let e = e.clone();
                        self.enum_type(&e, prefix, root, &file)
                    }
                    _ => name,
                };
                self.stack.pop();
                d
            }
        }
    }

    fn enum_type(
        &mut self,
        e: &syn::ItemEnum,
        prefix: &str,
        root: &'static str,
        file: &Path,
    ) -> String {
        let s = serde_attrs(&e.attrs);
        let rule = s.values.get("rename_all").map(String::as_str);
        let name_of = |v: &syn::Variant| {
            serde_attrs(&v.attrs)
                .values
                .get("rename")
                .cloned()
                .unwrap_or_else(|| rename(&v.ident.to_string(), rule))
        };
        if s.flags.contains("untagged") {
            let mut kinds = Vec::new();
            for v in &e.variants {
                match &v.fields {
                    Fields::Unnamed(f) if f.unnamed.len() == 1 => {
                        kinds.push(self.describe(&f.unnamed[0].ty, prefix, root, file))
                    }
                    Fields::Named(_) => {
                        let mut named = syn::ItemStruct {
                            attrs: v.attrs.clone(),
                            vis: syn::Visibility::Inherited,
                            struct_token: Default::default(),
                            ident: v.ident.clone(),
                            generics: Default::default(),
                            fields: v.fields.clone(),
                            semi_token: None,
                        };
                        named.attrs.clear();
                        self.struct_keys(&named, prefix, root, file, None);
                        kinds.push("table".to_owned());
                    }
                    _ => kinds.push(name_of(v)),
                }
            }
            kinds.dedup();
            return kinds.join(" or ");
        }
        if let Some(tag) = s.values.get("tag") {
            let names: Vec<String> = e.variants.iter().map(name_of).collect();
            self.keys.push(Key {
                key: join(prefix, tag),
                ty: format!("one of {}", quoted(&names)),
                default: None,
                required: true,
                doc: docs(&e.attrs),
            });
            for v in &e.variants {
                if let Fields::Named(_) = &v.fields {
                    let named = syn::ItemStruct {
                        attrs: Vec::new(),
                        vis: syn::Visibility::Inherited,
                        struct_token: Default::default(),
                        ident: v.ident.clone(),
                        generics: Default::default(),
                        fields: v.fields.clone(),
                        semi_token: None,
                    };
                    let tag_note = format!("(with {tag} = \"{}\")", name_of(v));
                    self.struct_keys(&named, prefix, root, file, Some(&tag_note));
                }
            }
            return "table".to_owned();
        }
        let names: Vec<String> = e.variants.iter().map(name_of).collect();
        format!("one of {}", quoted(&names))
    }

    /// The serde name of an enum's `#[default]` variant.
    fn enum_default(&self, ty: &Type, root: &'static str, file: &Path) -> Option<String> {
        let seg = last_segment(ty)?;
        let def = self.index.find(&seg.ident.to_string(), root, file)?;
        let Item::Enum(e) = &def.item else {
            return None;
        };
        let rule = serde_attrs(&e.attrs).values.get("rename_all").cloned();
        let v = e
            .variants
            .iter()
            .find(|v| v.attrs.iter().any(|a| a.path().is_ident("default")))?;
        Some(
            serde_attrs(&v.attrs)
                .values
                .get("rename")
                .cloned()
                .unwrap_or_else(|| rename(&v.ident.to_string(), rule.as_deref())),
        )
    }

    /// Pushes the keys of a struct's named fields under `prefix`.
    fn struct_keys(
        &mut self,
        s: &syn::ItemStruct,
        prefix: &str,
        root: &'static str,
        file: &Path,
        note: Option<&str>,
    ) {
        let container = serde_attrs(&s.attrs);
        let rule = container.values.get("rename_all").cloned();
        let container_default = container.flags.contains("default");
        let defaults = if container_default {
            self.index.default_impl(&s.ident.to_string(), file)
        } else {
            BTreeMap::new()
        };
        let Fields::Named(fields) = &s.fields else {
            return;
        };
        for f in &fields.named {
            let Some(ident) = &f.ident else { continue };
            let attrs = serde_attrs(&f.attrs);
            if attrs.flags.contains("skip") || attrs.flags.contains("skip_deserializing") {
                continue;
            }
            let raw = ident.to_string();
            let raw = raw.trim_start_matches("r#");
            let name = attrs
                .values
                .get("rename")
                .cloned()
                .unwrap_or_else(|| rename(raw, rule.as_deref()));
            let key = join(prefix, &name);
            if attrs.flags.contains("flatten") {
                self.describe(&f.ty, prefix, root, file);
                continue;
            }
            let slot = self.keys.len();
            self.keys.push(Key {
                key: key.clone(),
                ty: String::new(),
                default: None,
                required: false,
                doc: String::new(),
            });
            let ty = self.describe(&f.ty, &key, root, file);
            let optional = last_segment(&f.ty).is_some_and(|s| s.ident == "Option");
            let default = if let Some(func) = attrs.values.get("default") {
                Some(
                    self.index
                        .find_fn(func, file, root)
                        .and_then(|f| match f.block.stmts.last() {
                            Some(syn::Stmt::Expr(e, None)) => Some(render_expr(e)),
                            _ => None,
                        })
                        .unwrap_or_else(|| "see the description".to_owned()),
                )
            } else if attrs.flags.contains("default") {
                Some(
                    self.enum_default(&f.ty, root, file)
                        .unwrap_or_else(|| type_default(&f.ty, &ty)),
                )
            } else if container_default {
                defaults
                    .get(raw)
                    .cloned()
                    .or_else(|| Some(type_default(&f.ty, &ty)))
            } else if optional {
                Some("none".to_owned())
            } else {
                None
            };
            let mut doc = docs(&f.attrs);
            if let Some(n) = note {
                doc = format!("{n} {doc}");
            }
            let k = &mut self.keys[slot];
            k.required = default.is_none();
            k.ty = ty.clone();
            k.default = default;
            k.doc = doc;
            for alias in &attrs.aliases {
                self.keys.push(Key {
                    key: join(prefix, alias),
                    ty: ty.clone(),
                    default: None,
                    required: false,
                    doc: format!("Another name for `{name}`."),
                });
            }
        }
    }
}

fn has_derive(attrs: &[Attribute], what: &str) -> bool {
    attrs
        .iter()
        .any(|a| a.path().is_ident("derive") && a.to_token_stream().to_string().contains(what))
}

fn first_sentence(doc: &str) -> Option<String> {
    let s = doc.split(". ").next()?.trim().trim_end_matches('.');
    (!s.is_empty()).then(|| s.to_owned())
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural(d: &str) -> String {
    match d {
        "string" => "strings".into(),
        "table" => "tables".into(),
        "integer" => "integers".into(),
        "path" => "paths".into(),
        other => other.to_owned(),
    }
}

/// What `#[serde(default)]` gives a field of this type.
fn type_default(ty: &Type, described: &str) -> String {
    let name = last_segment(ty)
        .map(|s| s.ident.to_string())
        .unwrap_or_default();
    match name.as_str() {
        "Option" => "none".into(),
        "bool" => "false".into(),
        "Vec" => "[]".into(),
        "BTreeMap" | "HashMap" | "IndexMap" | "Table" => "{}".into(),
        "String" => "\"\"".into(),
        "usize" | "u64" | "u32" | "u16" | "u8" | "i64" | "i32" => "0".into(),
        _ if described == "table" => "see its keys".into(),
        _ => "the type's default".into(),
    }
}

/// A default's expression as a user would write it in the config.
fn render_expr(e: &Expr) -> String {
    if let Some(n) = eval_int(e) {
        return n.to_string();
    }
    match e {
        Expr::Lit(l) => match &l.lit {
            Lit::Str(s) => format!("{:?}", s.value()),
            other => other.to_token_stream().to_string(),
        },
        Expr::Path(p) => {
            let text = p.to_token_stream().to_string().replace(' ', "");
            if let Some(c) = p.path.segments.last().map(|s| s.ident.to_string()) {
                // A constant of the crate: its value if it is a plain number.
                if c == "ZERO" {
                    return "0".to_owned();
                }
                if c.chars()
                    .all(|ch| ch.is_uppercase() || ch == '_' || ch.is_ascii_digit())
                {
                    return c;
                }
                // An enum variant: its serde name.
                return snake(&c);
            }
            text
        }
        Expr::MethodCall(m)
            if ["to_owned", "to_string", "into", "clone"]
                .contains(&m.method.to_string().as_str()) =>
        {
            render_expr(&m.receiver)
        }
        Expr::Call(c) => {
            let f = c.func.to_token_stream().to_string().replace(' ', "");
            let arg = c.args.first();
            match (f.as_str(), arg) {
                ("Some" | "String::from" | "Box::new", Some(a)) => render_expr(a),
                ("ByteSize", Some(a)) => eval_int(a)
                    .map(human_size)
                    .unwrap_or_else(|| render_expr(a)),
                (
                    "HumanDuration::from_secs" | "Duration::from_secs" | "HumanDuration::secs",
                    Some(a),
                ) => {
                    format!("{}s", render_expr(a))
                }
                (
                    "HumanDuration::from_millis"
                    | "Duration::from_millis"
                    | "HumanDuration::millis",
                    Some(a),
                ) => {
                    format!("{}ms", render_expr(a))
                }
                ("HumanDuration", Some(a)) => render_expr(a),
                _ => e.to_token_stream().to_string(),
            }
        }
        Expr::Macro(m) if m.mac.path.is_ident("vec") => {
            let inner = m.mac.tokens.to_string();
            format!(
                "[{}]",
                inner
                    .replace(".to_owned()", "")
                    .replace(".into()", "")
                    .replace(" . to_owned ()", "")
                    .replace(" . into ()", "")
            )
        }
        Expr::Paren(p) => render_expr(&p.expr),
        _ => e.to_token_stream().to_string(),
    }
}

fn eval_int(e: &Expr) -> Option<u128> {
    match e {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse().ok(),
        Expr::Paren(p) => eval_int(&p.expr),
        Expr::Binary(b) => {
            let (l, r) = (eval_int(&b.left)?, eval_int(&b.right)?);
            match b.op {
                syn::BinOp::Shl(_) => l.checked_shl(u32::try_from(r).ok()?),
                syn::BinOp::Mul(_) => l.checked_mul(r),
                syn::BinOp::Add(_) => l.checked_add(r),
                syn::BinOp::Sub(_) => l.checked_sub(r),
                _ => None,
            }
        }
        _ => None,
    }
}

fn human_size(n: u128) -> String {
    for (unit, div) in [("GiB", 1u128 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if n >= div && n.is_multiple_of(div) {
            return format!("{}{unit}", n / div);
        }
    }
    n.to_string()
}

/// A component type as listed in `src/config/components.rs`.
struct Listed {
    kind: &'static str,
    name: String,
    purpose: String,
    ty: String,
    crate_root: &'static str,
    module: Vec<String>,
}

/// Reads the `component_types!` lists and the `use` lines naming their types.
fn listed(text: &str) -> Vec<Listed> {
    let mut uses: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("use ") else {
            continue;
        };
        let rest = rest.trim_end_matches(';');
        let (path, names) = match rest.split_once("::{") {
            Some((p, n)) => (
                p.to_owned(),
                n.trim_end_matches('}')
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .collect::<Vec<_>>(),
            ),
            None => match rest.rsplit_once("::") {
                Some((p, n)) => (p.to_owned(), vec![n.to_owned()]),
                None => continue,
            },
        };
        let mut segs = path.split("::").map(str::to_owned);
        let Some(krate) = segs.next() else { continue };
        let module: Vec<String> = segs.collect();
        for n in names.into_iter().filter(|n| !n.is_empty()) {
            uses.insert(n, (krate.clone(), module.clone()));
        }
    }
    let mut out = Vec::new();
    let mut kind = "";
    let mut doc = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("enum ") {
            kind = match rest.split(':').next().unwrap_or("") {
                "SourceConfig" => "source",
                "TransformConfig" => "transform",
                "SinkConfig" => "sink",
                _ => "",
            };
            doc.clear();
            continue;
        }
        if let Some(d) = t.strip_prefix("///") {
            doc.push(d.trim().to_owned());
            continue;
        }
        if kind.is_empty() {
            doc.clear();
            continue;
        }
        // `Variant(Box<Type>) = "name",`
        if let (Some(open), Some(eq)) = (t.find("(Box<"), t.find(">) = \"")) {
            let ty = t[open + 5..eq].to_owned();
            let name = t[eq + 6..]
                .trim_end_matches(',')
                .trim_end_matches('"')
                .to_owned();
            let purpose = doc.join(" ");
            let purpose = purpose
                .split_once("`: ")
                .map(|(_, p)| p.to_owned())
                .unwrap_or_default();
            let (krate, module) = uses.get(&ty).cloned().unwrap_or_default();
            let crate_root = CRATES
                .iter()
                .find(|(k, _)| *k == krate)
                .map(|(_, r)| *r)
                .unwrap_or("crates/core/src");
            out.push(Listed {
                kind,
                name,
                purpose,
                ty,
                crate_root,
                module,
            });
            doc.clear();
        } else if t == "}" {
            kind = "";
        } else {
            doc.clear();
        }
    }
    out
}

/// The module's `//!` docs (its description for the reference page).
fn module_doc(root: &str, module: &[String]) -> String {
    let base = Path::new(root).join(module.join("/"));
    for candidate in [base.with_extension("rs"), base.join("mod.rs")] {
        if let Ok(text) = std::fs::read_to_string(&candidate) {
            let lines: Vec<&str> = text
                .lines()
                .take_while(|l| l.starts_with("//!"))
                .map(|l| l.trim_start_matches("//!").trim())
                .collect();
            return lines.join("\n");
        }
    }
    String::new()
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/config/components.rs");
    for (_, root) in CRATES {
        println!("cargo:rerun-if-changed={root}");
    }
    let components = std::fs::read_to_string("src/config/components.rs").unwrap_or_default();
    let index = Index::load();
    let mut out = String::new();
    out.push_str("/// Every component type, from `src/config/components.rs` and the config structs (generated by build.rs).\npub static COMPONENTS: &[ComponentDoc] = &[\n");
    for l in listed(&components) {
        let near = Path::new(l.crate_root).join(l.module.join("/"));
        let mut walker = Walker {
            index: &index,
            keys: Vec::new(),
            stack: Vec::new(),
        };
        let mut config_doc = String::new();
        if let Some(def) = index.find(&l.ty, l.crate_root, &near.with_extension("rs")) {
            let (root, file) = (def.root, def.file.clone());
            match &def.item {
                Item::Struct(s) => {
                    config_doc = docs(&s.attrs);
                    let s = s.clone();
                    walker.stack.push(l.ty.clone());
                    walker.struct_keys(&s, "", root, &file, None);
                }
                Item::Enum(e) => {
                    config_doc = docs(&e.attrs);
                    let e = e.clone();
                    walker.enum_type(&e, "", root, &file);
                }
                _ => {}
            }
        } else {
            println!("cargo:warning=catalog: no definition found for {}", l.ty);
        }
        let _ = writeln!(
            out,
            "    ComponentDoc {{ kind: Kind::{}, name: {:?}, purpose: {:?}, config: {:?}, description: {:?}, keys: &[",
            match l.kind {
                "source" => "Source",
                "transform" => "Transform",
                _ => "Sink",
            },
            l.name,
            l.purpose,
            format!("{}::{}", l.module.join("::"), l.ty),
            {
                let m = module_doc(l.crate_root, &l.module);
                if m.is_empty() { config_doc } else { m }
            },
        );
        for k in &walker.keys {
            let _ = writeln!(
                out,
                "        KeyDoc {{ key: {:?}, ty: {:?}, default: {:?}, required: {}, doc: {:?} }},",
                k.key, k.ty, k.default, k.required, k.doc
            );
        }
        out.push_str("    ] },\n");
    }
    out.push_str("];\n");
    let dest =
        PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into())).join("catalog.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        panic!("writing {}: {e}", dest.display());
    }
}
