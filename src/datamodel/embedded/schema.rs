//! The shape of the served data model: generated entries ([`SCHEMA`]) turned into a tree, and
//! wire paths resolved against it. Pure: instance numbers come from an [`Instances`] callback.

pub(crate) use super::schema_gen::SCHEMA;
use super::schema_gen::{ENUMS, RANGES, STRS};
use crate::datamodel::{ActiveNotify, ParamType};
use crate::fault::Fault;

/// What a schema entry describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A single-instance object (`Device.DeviceInfo.`).
    Object,
    /// A multi-instance object (`Device.NAT.PortMapping.{i}.`).
    Table,
    /// A parameter.
    Param,
}

/// One generated schema row (see tools/gen_tr181.py).
#[derive(Debug)]
pub(crate) struct Entry {
    /// Schema path, `{i}` for instance numbers; objects end with `.`.
    pub path: &'static str,
    /// Object, table or parameter.
    pub kind: Kind,
    /// Parameter type (String for objects).
    pub ty: ParamType,
    /// Parameter: SPV allowed. Table: AddObject/DeleteObject allowed.
    pub writable: bool,
    /// `activeNotify` of the parameter.
    pub notify: ActiveNotify,
    /// `forcedInform="true"`.
    pub forced: bool,
    /// Reads return an empty string (`hidden` or `secured` in the XML: passwords).
    pub hidden: bool,
    /// A comma-separated list (enumerations apply per item).
    pub list: bool,
    /// Maximum length of the string form; 0 = none.
    pub max_len: u32,
    /// 1 + index into [`RANGES`], 0 = none (see [`Entry::range`]). The optional columns are
    /// indexes into shared tables so that a row takes 32 bytes rather than 104.
    pub range_ix: u8,
    /// 1 + index into [`STRS`], 0 = none (see [`Entry::default`]).
    pub default_ix: u8,
    /// 1 + index into [`ENUMS`], 0 = none (see [`Entry::enums`]).
    pub enums_ix: u8,
    /// 1 + index into [`STRS`], 0 = none (see [`Entry::num_entries`]).
    pub num_entries_ix: u8,
}

/// Element `ix - 1` of `table`; `None` for 0 (or an index the generator never writes).
fn lookup<T: Copy>(table: &'static [T], ix: u8) -> Option<T> {
    table.get(usize::from(ix).checked_sub(1)?).copied()
}

impl Entry {
    /// Inclusive numeric range.
    pub(crate) fn range(&self) -> Option<(i64, i64)> {
        lookup(RANGES, self.range_ix)
    }

    /// The default value from the XML, if any.
    pub(crate) fn default(&self) -> Option<&'static str> {
        lookup(STRS, self.default_ix)
    }

    /// Allowed values (writable ones); empty = any.
    pub(crate) fn enums(&self) -> &'static [&'static str] {
        lookup(ENUMS, self.enums_ix).unwrap_or(&[])
    }

    /// Table: name of the sibling `...NumberOfEntries` parameter counting it.
    pub(crate) fn num_entries(&self) -> Option<&'static str> {
        lookup(STRS, self.num_entries_ix)
    }
}

/// A node of the schema tree (one per [`Entry`]).
#[derive(Debug)]
pub(crate) struct Node {
    /// Last path segment (`UpTime`, `PortMapping`).
    pub seg: &'static str,
    /// Index into [`SCHEMA`].
    pub entry: usize,
    /// Child nodes (for a table: the children of each instance).
    pub children: Vec<usize>,
    /// For a parameter inside a table instance: its column among the parameter siblings.
    pub col: usize,
    /// Parent node (0 for the root itself).
    pub parent: usize,
}

/// The schema as a tree; node 0 is `Device.`. Node ids equal [`SCHEMA`] indexes.
#[derive(Debug)]
pub(crate) struct Tree {
    /// All nodes, indexed like [`SCHEMA`].
    pub nodes: Vec<Node>,
}

/// Strips the trailing `.{i}.`/`.` of an object path, giving the parent's path and the segment.
fn split_last(path: &'static str) -> (&'static str, &'static str) {
    let body = path.strip_suffix('.').unwrap_or(path);
    let body = body.strip_suffix(".{i}").unwrap_or(body);
    match body.rfind('.') {
        Some(i) => (&path[..=i], &body[i + 1..]),
        None => ("", body),
    }
}

impl Tree {
    /// Builds the tree from [`SCHEMA`] (parents come before children there).
    pub(crate) fn build() -> Tree {
        let mut nodes: Vec<Node> = Vec::with_capacity(SCHEMA.len());
        for (i, e) in SCHEMA.iter().enumerate() {
            let (parent, seg) = split_last(e.path);
            nodes.push(Node {
                seg,
                entry: i,
                children: Vec::new(),
                col: 0,
                parent: 0,
            });
            if i == 0 {
                continue;
            }
            // The generator guarantees the parent exists and precedes the child.
            if let Some(p) = (0..i).rev().find(|&j| SCHEMA[j].path == parent) {
                if e.kind == Kind::Param {
                    nodes[i].col = nodes[p]
                        .children
                        .iter()
                        .filter(|&&c| SCHEMA[c].kind == Kind::Param)
                        .count();
                }
                nodes[p].children.push(i);
                nodes[i].parent = p;
            }
        }
        Tree { nodes }
    }

    /// The child of `node` named `seg`.
    pub(crate) fn child(&self, node: usize, seg: &str) -> Option<usize> {
        self.nodes[node]
            .children
            .iter()
            .copied()
            .find(|&c| self.nodes[c].seg == seg)
    }

    /// The schema entry of a node.
    pub(crate) fn entry(&self, node: usize) -> &'static Entry {
        &SCHEMA[self.nodes[node].entry]
    }

    /// The node of a schema path (`Device.NAT.PortMapping.{i}.Enable`).
    #[cfg(test)]
    pub(crate) fn find(&self, path: &str) -> Option<usize> {
        SCHEMA.iter().position(|e| e.path == path)
    }

    /// The schema node a concrete parameter name maps to, ignoring whether instances exist.
    pub(crate) fn schema_of(&self, name: &str) -> Option<usize> {
        let body = name.strip_suffix('.').unwrap_or(name);
        let mut segs = body.split('.');
        if segs.next() != Some("Device") {
            return None;
        }
        let mut node = 0;
        let mut want_instance = false;
        for seg in segs {
            if want_instance {
                want_instance = false;
                continue;
            }
            node = self.child(node, seg)?;
            want_instance = self.entry(node).kind == Kind::Table;
        }
        Some(node)
    }
}

/// Where a resolved path points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum At {
    /// A single object, or an instance of a table (when `inst` ends with its number).
    Object,
    /// A table itself (`Device.NAT.PortMapping.`).
    Table,
    /// A parameter.
    Param,
}

/// A concrete place in the data model: node, instance numbers on the way, and wire name.
#[derive(Clone, Debug)]
pub(crate) struct Loc {
    /// Tree node.
    pub node: usize,
    /// Instance numbers of every table on the way, outermost first.
    pub inst: Vec<u32>,
    /// Object, table or parameter.
    pub at: At,
    /// The wire name (objects and tables end with `.`).
    pub name: String,
}

/// Instance lookups the resolver needs from the backend.
pub(crate) trait Instances {
    /// Instance numbers of table `node` under the parent instances `inst`, ascending.
    fn instances(&mut self, node: usize, inst: &[u32]) -> Vec<u32>;
    /// The Alias of instance `inst` (last number) of table `node`, if it has one.
    fn alias(&mut self, node: usize, inst: &[u32]) -> Option<String>;
}

/// Resolves a wire path (already syntax-checked) to concrete locations. `*` expands to every
/// instance (possibly none); unknown names and numbers give 9005. `allow_wild` false makes `*`
/// a 9005 (SPV, AddObject, DeleteObject).
pub(crate) fn resolve(
    tree: &Tree,
    src: &mut dyn Instances,
    path: &str,
    allow_wild: bool,
) -> Result<Vec<Loc>, Fault> {
    let bad = || Fault::invalid_name(path);
    let partial = path.is_empty() || path.ends_with('.');
    let body = path.strip_suffix('.').unwrap_or(path);
    let mut segs = body.split('.').filter(|s| !s.is_empty());
    let root = Loc {
        node: 0,
        inst: Vec::new(),
        at: At::Object,
        name: "Device.".to_string(),
    };
    match segs.next() {
        None => return Ok(vec![root]),
        Some("Device") => {}
        Some(_) => return Err(bad()),
    }
    let mut cur = vec![root];
    for seg in segs {
        let mut next = Vec::with_capacity(cur.len());
        for loc in cur {
            match loc.at {
                At::Param => return Err(bad()),
                At::Object => {
                    let child = tree.child(loc.node, seg).ok_or_else(bad)?;
                    let at = match tree.entry(child).kind {
                        Kind::Param => At::Param,
                        Kind::Table => At::Table,
                        Kind::Object => At::Object,
                    };
                    let mut name = loc.name;
                    name.push_str(seg);
                    if at != At::Param {
                        name.push('.');
                    }
                    next.push(Loc {
                        node: child,
                        inst: loc.inst,
                        at,
                        name,
                    });
                }
                At::Table => {
                    let all = src.instances(loc.node, &loc.inst);
                    let picked: Vec<u32> = if seg == "*" {
                        if !allow_wild {
                            return Err(bad());
                        }
                        all
                    } else if let Some(alias) =
                        seg.strip_prefix('[').and_then(|s| s.strip_suffix(']'))
                    {
                        let mut found = None;
                        for n in all {
                            let mut inst = loc.inst.clone();
                            inst.push(n);
                            if src.alias(loc.node, &inst).as_deref() == Some(alias) {
                                found = Some(n);
                                break;
                            }
                        }
                        vec![found.ok_or_else(bad)?]
                    } else {
                        let n: u32 = seg.parse().map_err(|_| bad())?;
                        if all.binary_search(&n).is_err() {
                            return Err(bad());
                        }
                        vec![n]
                    };
                    for n in picked {
                        let mut inst = loc.inst.clone();
                        inst.push(n);
                        let mut name = loc.name.clone();
                        name.push_str(&n.to_string());
                        name.push('.');
                        next.push(Loc {
                            node: loc.node,
                            inst,
                            at: At::Object,
                            name,
                        });
                    }
                }
            }
        }
        cur = next;
    }
    // A full name must end on a parameter and a partial path on an object or table.
    if cur.iter().any(|l| (l.at == At::Param) == partial) {
        return Err(bad());
    }
    Ok(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_links_every_entry_to_its_parent() {
        let t = Tree::build();
        let linked: usize = t.nodes.iter().map(|n| n.children.len()).sum();
        assert_eq!(linked + 1, SCHEMA.len());
        let pm = t.find("Device.NAT.PortMapping.{i}.").unwrap();
        assert_eq!(t.nodes[pm].seg, "PortMapping");
        assert_eq!(
            t.child(t.find("Device.NAT.").unwrap(), "PortMapping"),
            Some(pm)
        );
        assert_eq!(
            t.schema_of("Device.NAT.PortMapping.7.Enable"),
            t.find("Device.NAT.PortMapping.{i}.Enable")
        );
        assert_eq!(t.schema_of("Device.Nope"), None);
    }

    #[test]
    fn columns_count_parameter_siblings() {
        let t = Tree::build();
        let pm = t.find("Device.NAT.PortMapping.{i}.").unwrap();
        let cols: Vec<usize> = t.nodes[pm]
            .children
            .iter()
            .map(|&c| t.nodes[c].col)
            .collect();
        assert_eq!(cols, (0..cols.len()).collect::<Vec<_>>());
    }

    #[test]
    fn packed_columns_resolve_through_the_shared_tables() {
        let t = Tree::build();
        let e = |path: &str| t.entry(t.find(path).unwrap());
        let cpu = e("Device.DeviceInfo.ProcessStatus.CPUUsage");
        assert_eq!(cpu.range(), Some((i64::MIN, 100)));
        assert_eq!(
            (cpu.default(), cpu.enums(), cpu.num_entries()),
            (None, &[][..], None)
        );
        assert_eq!(
            e("Device.ManagementServer.EnableCWMP").default(),
            Some("true")
        );
        assert_eq!(
            e("Device.NAT.PortMapping.{i}.Protocol").enums(),
            ["TCP", "UDP"]
        );
        assert_eq!(
            e("Device.NAT.PortMapping.{i}.").num_entries(),
            Some("PortMappingNumberOfEntries")
        );
        let url = e("Device.ManagementServer.URL");
        assert_eq!(
            (url.range(), url.default(), url.num_entries()),
            (None, None, None)
        );
        assert!(url.enums().is_empty());
        // An index past a table's end reads as absent rather than panicking.
        assert_eq!(lookup(RANGES, u8::MAX), None);
        // The point of the packing: the table stays small on the router.
        assert!(std::mem::size_of::<Entry>() <= 32);
    }
}
