//! Protobuf compatibility, as Confluent's Protobuf provider decides it: the schemas are compared
//! message by message (by name, nested ones too) and field by field (by number, not name) into
//! typed differences; the pair is compatible when every difference is one Confluent allows.
//!
//! Rules (wire compatibility): a field's scalar type may change within one wire group
//! ({int32, int64, uint32, uint64, bool, enums}, {sint32, sint64}, {string, bytes},
//! {fixed32, sfixed32}, {fixed64, sfixed64}, {float}, {double}) and that is no difference at
//! all; across groups, or between scalar, message and map, it is incompatible, as is a change of
//! a message field's type name, a label change on a numeric field (packed vs unpacked), a
//! removed message, a changed package, a proto2 `required` field added or removed, a removed
//! oneof member (unless the whole oneof went), and fields that were independent becoming
//! members of one oneof. Renames, added/removed fields, enum changes, reordered messages and a
//! oneof member moved out to the top level are compatible.

use std::collections::{BTreeSet, HashMap, HashSet};

use prost_reflect::{EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor, Syntax};

use crate::schema::protobuf::ProtobufSchema;

difference_types!(
    "The kinds of difference Confluent's Protobuf diff reports (its names).",
    PACKAGE_CHANGED,
    MESSAGE_ADDED,
    MESSAGE_REMOVED,
    MESSAGE_MOVED,
    ENUM_ADDED,
    ENUM_REMOVED,
    ENUM_CONST_ADDED,
    ENUM_CONST_CHANGED,
    ENUM_CONST_REMOVED,
    FIELD_ADDED,
    FIELD_REMOVED,
    FIELD_NAME_CHANGED,
    FIELD_KIND_CHANGED,
    FIELD_SCALAR_KIND_CHANGED,
    FIELD_NAMED_TYPE_CHANGED,
    FIELD_NUMERIC_LABEL_CHANGED,
    FIELD_STRING_OR_BYTES_LABEL_CHANGED,
    REQUIRED_FIELD_ADDED,
    REQUIRED_FIELD_REMOVED,
    ONEOF_ADDED,
    ONEOF_REMOVED,
    ONEOF_FIELD_ADDED,
    ONEOF_FIELD_REMOVED,
    ONEOF_FIELD_MOVED_TO_TOP_LEVEL,
    MULTIPLE_FIELDS_MOVED_TO_ONEOF,
    FIELD_MOVED_TO_EXISTING_ONEOF,
);

use DifferenceType as T;

impl DifferenceType {
    /// Whether Confluent allows it.
    pub fn is_compatible(self) -> bool {
        matches!(
            self,
            T::MESSAGE_ADDED
                | T::MESSAGE_MOVED
                | T::ENUM_ADDED
                | T::ENUM_REMOVED
                | T::ENUM_CONST_ADDED
                | T::ENUM_CONST_CHANGED
                | T::ENUM_CONST_REMOVED
                | T::FIELD_ADDED
                | T::FIELD_REMOVED
                | T::FIELD_NAME_CHANGED
                | T::FIELD_STRING_OR_BYTES_LABEL_CHANGED
                | T::ONEOF_ADDED
                | T::ONEOF_REMOVED
                | T::ONEOF_FIELD_ADDED
                | T::ONEOF_FIELD_MOVED_TO_TOP_LEVEL
        )
    }
}

/// One difference found when `update` replaces `original`, at a path of message names, oneof
/// names and field numbers (`#/Outer/Inner/3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub kind: DifferenceType,
    path: Vec<String>,
}

impl Difference {
    pub fn full_path(&self) -> String {
        format!("#/{}", self.path.join("/"))
    }

    /// Confluent's message: `update_name` stands for the schema replacing `original`, which is
    /// `original_name` ("new"/"old" for BACKWARD, "old"/"new" for FORWARD).
    pub fn message(&self, update_name: &str, original_name: &str) -> String {
        let (u, o) = (update_name, original_name);
        let p = self.full_path();
        let description = match self.kind {
            T::PACKAGE_CHANGED => format!(
                "The package at '{p}' in the {u} schema does not match the package in the {o} schema"
            ),
            T::MESSAGE_REMOVED => {
                format!("The {u} schema is missing a MESSAGE type at path '{p}' in the {o} schema")
            }
            T::FIELD_KIND_CHANGED => format!(
                "The type of a field at path '{p}' in the {u} schema does not match the {o} schema"
            ),
            T::FIELD_SCALAR_KIND_CHANGED => format!(
                "The kind of a SCALAR field at path '{p}' in the {u} schema does not match its kind in the {o} schema"
            ),
            T::FIELD_NAMED_TYPE_CHANGED => format!(
                "The type of a MESSAGE field at path '{p}' in the {u} schema does not match its type in the {o} schema"
            ),
            T::FIELD_NUMERIC_LABEL_CHANGED => format!(
                "The label for a NUMERIC field at path '{p}' in the {u} schema does not match its label in the {o} schema"
            ),
            T::REQUIRED_FIELD_ADDED => format!(
                "A required field  at path '{p}' in the {u} schema is missing in the {o} schema"
            ),
            T::REQUIRED_FIELD_REMOVED => format!(
                "The {u} schema is missing a required field at path: '{p}' in the {o} schema"
            ),
            T::ONEOF_FIELD_REMOVED => {
                format!("The {u} schema is missing a oneof field at path '{p}' in the {o} schema")
            }
            T::ONEOF_FIELD_MOVED_TO_TOP_LEVEL => format!(
                "The oneof field at path '{p}' in the {u} schema was moved out of its oneof to a top-level field in the {o} schema"
            ),
            T::MULTIPLE_FIELDS_MOVED_TO_ONEOF => format!(
                "Multiple fields in the oneof at path '{p}' in the {u} schema are outside a oneof in the {o} schema"
            ),
            T::FIELD_MOVED_TO_EXISTING_ONEOF => format!(
                "A field in the oneof at path '{p}' in the {u} schema is outside an existing oneof in the {o} schema"
            ),
            _ => String::new(),
        };
        format!(
            "{{errorType:\"{}\", description:\"{description}\"}}",
            self.kind.as_str()
        )
    }
}

/// Incompatible differences when `update` replaces `original` (Confluent's
/// `SchemaDiff.compare(original, update)`), worded with `update` called "new" and `original`
/// "old" (BACKWARD's wording). Empty = compatible.
///
/// BACKWARD = `incompatibilities(old, new)`; FORWARD = `incompatibilities(new, old)`.
pub fn incompatibilities(original: &ProtobufSchema, update: &ProtobufSchema) -> Vec<String> {
    incompatibilities_named(original, update, "new", "old")
}

/// As [`incompatibilities`], naming the schemas in the messages: Confluent says
/// (`update_name`, `original_name`) = ("new", "old") for BACKWARD and ("old", "new") for
/// FORWARD.
pub fn incompatibilities_named(
    original: &ProtobufSchema,
    update: &ProtobufSchema,
    update_name: &str,
    original_name: &str,
) -> Vec<String> {
    differences(original, update)
        .into_iter()
        .filter(|d| !d.kind.is_compatible())
        .map(|d| d.message(update_name, original_name))
        .collect()
}

/// Every difference (compatible or not) when `update` replaces `original`.
pub fn differences(original: &ProtobufSchema, update: &ProtobufSchema) -> Vec<Difference> {
    let mut differ = Differ {
        original_file: original.file().name().to_owned(),
        update_file: update.file().name().to_owned(),
        path: Vec::new(),
        in_scope: HashSet::new(),
        diffs: Vec::new(),
    };
    let (o, u) = (original.file(), update.file());
    if o.package_name() != u.package_name() {
        differ.add(T::PACKAGE_CHANGED);
    }
    differ.compare_types(
        o.messages().collect(),
        o.enums().collect(),
        u.messages().collect(),
        u.enums().collect(),
    );
    differ.diffs
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldLabel {
    Optional,
    Required,
    Repeated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    Scalar,
    Map,
    Message,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScalarKind {
    GeneralNumber,
    SignedNumber,
    StringOrBytes,
    Fixed32,
    Fixed64,
    Float,
    Double,
}

/// The label as written in `.proto` source: none for oneof members, maps and proto3 fields
/// without `optional`/`repeated`.
fn label(field: &FieldDescriptor) -> Option<FieldLabel> {
    if field.containing_oneof().is_some_and(|o| !o.is_synthetic()) || field.is_map() {
        return None;
    }
    let proto = field.field_descriptor_proto();
    match proto.label() {
        prost_types::field_descriptor_proto::Label::Repeated => Some(FieldLabel::Repeated),
        prost_types::field_descriptor_proto::Label::Required => Some(FieldLabel::Required),
        prost_types::field_descriptor_proto::Label::Optional => {
            if field.parent_file().syntax() == Syntax::Proto3 && !proto.proto3_optional() {
                None
            } else {
                Some(FieldLabel::Optional)
            }
        }
    }
}

fn field_kind(kind: &Kind, is_map: bool) -> FieldKind {
    match kind {
        Kind::Message(_) if is_map => FieldKind::Map,
        Kind::Message(_) => FieldKind::Message,
        _ => FieldKind::Scalar,
    }
}

fn scalar_kind(kind: &Kind) -> ScalarKind {
    match kind {
        Kind::Sint32 | Kind::Sint64 => ScalarKind::SignedNumber,
        Kind::String | Kind::Bytes => ScalarKind::StringOrBytes,
        Kind::Fixed32 | Kind::Sfixed32 => ScalarKind::Fixed32,
        Kind::Fixed64 | Kind::Sfixed64 => ScalarKind::Fixed64,
        Kind::Float => ScalarKind::Float,
        Kind::Double => ScalarKind::Double,
        // int32, int64, uint32, uint64, bool and enums; messages do not get here.
        _ => ScalarKind::GeneralNumber,
    }
}

/// A message's name without its package (`Outer.Inner`).
fn local_name(message: &MessageDescriptor) -> String {
    let package = message.package_name();
    let full = message.full_name();
    if package.is_empty() {
        full.to_owned()
    } else {
        full.strip_prefix(package)
            .and_then(|rest| rest.strip_prefix('.'))
            .unwrap_or(full)
            .to_owned()
    }
}

struct Differ {
    original_file: String,
    update_file: String,
    path: Vec<String>,
    /// Original messages being compared (so recursive types terminate).
    in_scope: HashSet<String>,
    diffs: Vec<Difference>,
}

impl Differ {
    fn add(&mut self, kind: DifferenceType) {
        self.diffs.push(Difference {
            kind,
            path: self.path.clone(),
        });
    }

    fn add_at(&mut self, tokens: &[&str], kind: DifferenceType) {
        let mut path = self.path.clone();
        path.extend(tokens.iter().map(|t| (*t).to_owned()));
        self.diffs.push(Difference { kind, path });
    }

    /// Messages and enums declared side by side (a file's top level or a message's nested
    /// types), matched by name.
    fn compare_types(
        &mut self,
        original_messages: Vec<MessageDescriptor>,
        original_enums: Vec<EnumDescriptor>,
        update_messages: Vec<MessageDescriptor>,
        update_enums: Vec<EnumDescriptor>,
    ) {
        let listed = |messages: Vec<MessageDescriptor>| -> Vec<MessageDescriptor> {
            messages
                .into_iter()
                .filter(|m| !m.is_map_entry() && !is_group_type(m))
                .collect()
        };
        let original_messages = listed(original_messages);
        let update_messages = listed(update_messages);
        let mut names: Vec<String> = original_messages
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        for m in &update_messages {
            if !names.iter().any(|n| n == m.name()) {
                names.push(m.name().to_owned());
            }
        }
        for name in names {
            self.path.push(name.clone());
            let o = original_messages.iter().position(|m| m.name() == name);
            let u = update_messages.iter().position(|m| m.name() == name);
            match (o, u) {
                (Some(_), None) => self.add(T::MESSAGE_REMOVED),
                (None, Some(_)) => self.add(T::MESSAGE_ADDED),
                (Some(oi), Some(ui)) => {
                    self.compare_message(&original_messages[oi], &update_messages[ui]);
                    if oi != ui {
                        // Message indexes in serialized data refer to the writer's schema, so
                        // a moved message stays readable.
                        self.add(T::MESSAGE_MOVED);
                    }
                }
                (None, None) => {}
            }
            self.path.pop();
        }

        let mut names: Vec<String> = original_enums.iter().map(|e| e.name().to_owned()).collect();
        for e in &update_enums {
            if !names.iter().any(|n| n == e.name()) {
                names.push(e.name().to_owned());
            }
        }
        for name in names {
            self.path.push(name.clone());
            let o = original_enums.iter().find(|e| e.name() == name);
            let u = update_enums.iter().find(|e| e.name() == name);
            match (o, u) {
                (Some(_), None) => self.add(T::ENUM_REMOVED),
                (None, Some(_)) => self.add(T::ENUM_ADDED),
                (Some(o), Some(u)) => self.compare_enum(o, u),
                (None, None) => {}
            }
            self.path.pop();
        }
    }

    fn compare_enum(&mut self, original: &EnumDescriptor, update: &EnumDescriptor) {
        let by_number = |e: &EnumDescriptor| -> HashMap<i32, String> {
            e.values()
                .map(|v| (v.number(), v.name().to_owned()))
                .collect()
        };
        let (o, u) = (by_number(original), by_number(update));
        let numbers: BTreeSet<i32> = o.keys().chain(u.keys()).copied().collect();
        for number in numbers {
            let token = number.to_string();
            match (o.get(&number), u.get(&number)) {
                (Some(_), None) => self.add_at(&[&token], T::ENUM_CONST_REMOVED),
                (None, Some(_)) => self.add_at(&[&token], T::ENUM_CONST_ADDED),
                (Some(a), Some(b)) if a != b => self.add_at(&[&token], T::ENUM_CONST_CHANGED),
                _ => {}
            }
        }
    }

    fn compare_message(&mut self, original: &MessageDescriptor, update: &MessageDescriptor) {
        let scope_key = original.full_name().to_owned();
        if self.in_scope.insert(scope_key.clone()) {
            self.compare_fields(original, update);
            self.in_scope.remove(&scope_key);
        }
        self.compare_types(
            original.child_messages().collect(),
            original.child_enums().collect(),
            update.child_messages().collect(),
            update.child_enums().collect(),
        );
    }

    fn compare_fields(&mut self, original: &MessageDescriptor, update: &MessageDescriptor) {
        struct Fields {
            by_number: HashMap<u32, FieldDescriptor>,
            oneof_of: HashMap<u32, String>,
            oneofs: HashMap<String, Vec<u32>>,
            oneof_order: Vec<String>,
        }
        let collect = |m: &MessageDescriptor| {
            let mut fields = Fields {
                by_number: HashMap::new(),
                oneof_of: HashMap::new(),
                oneofs: HashMap::new(),
                oneof_order: Vec::new(),
            };
            for f in m.fields() {
                fields.by_number.insert(f.number(), f);
            }
            for oneof in m.oneofs().filter(|o| !o.is_synthetic()) {
                let members: Vec<u32> = oneof.fields().map(|f| f.number()).collect();
                for n in &members {
                    fields.oneof_of.insert(*n, oneof.name().to_owned());
                }
                fields.oneof_order.push(oneof.name().to_owned());
                fields.oneofs.insert(oneof.name().to_owned(), members);
            }
            fields
        };
        let (o, u) = (collect(original), collect(update));

        // A oneof gone by name with none of its members left anywhere is a complete deletion.
        let completely_deleted: HashSet<&String> = o
            .oneofs
            .iter()
            .filter(|(name, members)| {
                !u.oneofs.contains_key(*name)
                    && !members.iter().any(|n| u.by_number.contains_key(n))
            })
            .map(|(name, _)| name)
            .collect();

        // Fields that were independent before and now share a oneof.
        for name in &u.oneof_order {
            let mut groups: HashSet<String> = HashSet::new();
            let mut moved_in = 0;
            for number in &u.oneofs[name] {
                if let Some(previous) = o.oneof_of.get(number) {
                    groups.insert(format!("oneof:{previous}"));
                } else if o.by_number.contains_key(number) {
                    groups.insert(format!("field:{number}"));
                    moved_in += 1;
                }
            }
            if groups.len() > 1 {
                self.add_at(
                    &[name],
                    if moved_in > 1 {
                        T::MULTIPLE_FIELDS_MOVED_TO_ONEOF
                    } else {
                        T::FIELD_MOVED_TO_EXISTING_ONEOF
                    },
                );
            }
        }

        let all_oneofs: BTreeSet<&String> = o.oneofs.keys().chain(u.oneofs.keys()).collect();
        for name in all_oneofs {
            if !u.oneofs.contains_key(name) {
                self.add_at(&[name], T::ONEOF_REMOVED);
            } else if !o.oneofs.contains_key(name) {
                self.add_at(&[name], T::ONEOF_ADDED);
            }
        }

        let numbers: BTreeSet<u32> = o
            .by_number
            .keys()
            .chain(u.by_number.keys())
            .copied()
            .collect();
        for number in numbers {
            let token = number.to_string();
            let (of, uf) = (o.by_number.get(&number), u.by_number.get(&number));
            let (oo, uo) = (o.oneof_of.get(&number), u.oneof_of.get(&number));
            match (of, uf) {
                (Some(of), None) => match oo {
                    Some(oneof) => {
                        if !completely_deleted.contains(oneof) {
                            self.add_at(&[oneof, &token], T::ONEOF_FIELD_REMOVED);
                        }
                    }
                    None => self.add_at(
                        &[&token],
                        if label(of) == Some(FieldLabel::Required) {
                            T::REQUIRED_FIELD_REMOVED
                        } else {
                            T::FIELD_REMOVED
                        },
                    ),
                },
                (None, Some(uf)) => match uo {
                    Some(oneof) => self.add_at(&[oneof, &token], T::ONEOF_FIELD_ADDED),
                    None => self.add_at(
                        &[&token],
                        if label(uf) == Some(FieldLabel::Required) {
                            T::REQUIRED_FIELD_ADDED
                        } else {
                            T::FIELD_ADDED
                        },
                    ),
                },
                (Some(of), Some(uf)) => {
                    if oo.is_some() && uo.is_none() {
                        self.add_at(&[&token], T::ONEOF_FIELD_MOVED_TO_TOP_LEVEL);
                    }
                    let depth = self.path.len();
                    if let Some(oneof) = uo {
                        self.path.push(oneof.clone());
                    }
                    self.path.push(token);
                    self.compare_field(of, uf);
                    self.path.truncate(depth);
                }
                (None, None) => {}
            }
        }
    }

    fn compare_field(&mut self, original: &FieldDescriptor, update: &FieldDescriptor) {
        if original.name() != update.name() {
            self.add(T::FIELD_NAME_CHANGED);
        }
        self.compare_labels_and_types(
            label(original),
            label(update),
            &original.kind(),
            original.is_map(),
            &update.kind(),
            update.is_map(),
        );
    }

    fn compare_labels_and_types(
        &mut self,
        original_label: Option<FieldLabel>,
        update_label: Option<FieldLabel>,
        original: &Kind,
        original_is_map: bool,
        update: &Kind,
        update_is_map: bool,
    ) {
        let (ok, uk) = (
            field_kind(original, original_is_map),
            field_kind(update, update_is_map),
        );
        if ok != uk {
            self.add(T::FIELD_KIND_CHANGED);
            return;
        }
        match (ok, original, update) {
            (FieldKind::Scalar, _, _) => {
                let (os, us) = (scalar_kind(original), scalar_kind(update));
                if os != us {
                    self.add(T::FIELD_SCALAR_KIND_CHANGED);
                } else if let (Some(a), Some(b)) = (original_label, update_label)
                    && a != b
                {
                    self.add(if os == ScalarKind::StringOrBytes {
                        T::FIELD_STRING_OR_BYTES_LABEL_CHANGED
                    } else {
                        T::FIELD_NUMERIC_LABEL_CHANGED
                    });
                }
            }
            (FieldKind::Message, Kind::Message(a), Kind::Message(b)) => {
                self.compare_message_types(a, b);
            }
            (FieldKind::Map, Kind::Message(a), Kind::Message(b)) => {
                let (ak, bk) = (a.map_entry_key_field(), b.map_entry_key_field());
                self.compare_labels_and_types(None, None, &ak.kind(), false, &bk.kind(), false);
                let (av, bv) = (a.map_entry_value_field(), b.map_entry_value_field());
                self.compare_labels_and_types(
                    None,
                    None,
                    &av.kind(),
                    av.is_map(),
                    &bv.kind(),
                    bv.is_map(),
                );
            }
            _ => {}
        }
    }

    fn compare_message_types(&mut self, original: &MessageDescriptor, update: &MessageDescriptor) {
        let (ol, ul) = (local_name(original), local_name(update));
        if ol != ul {
            self.add(T::FIELD_NAMED_TYPE_CHANGED);
            return;
        }
        let (of, uf) = (original.parent_file(), update.parent_file());
        // Types of the schemas' own files are compared where they are declared; types from
        // the same referenced file need no comparison.
        if of.name() == self.original_file && uf.name() == self.update_file {
            return;
        }
        if of.name() == uf.name() && of.file_descriptor_proto() == uf.file_descriptor_proto() {
            return;
        }
        let saved_path =
            std::mem::replace(&mut self.path, ol.split('.').map(str::to_owned).collect());
        let saved_diffs = std::mem::take(&mut self.diffs);
        self.compare_message(original, update);
        let sub = std::mem::replace(&mut self.diffs, saved_diffs);
        self.path = saved_path;
        let compatible = sub.iter().all(|d| d.kind.is_compatible());
        self.diffs.extend(sub);
        if !compatible {
            self.add(T::FIELD_NAMED_TYPE_CHANGED);
        }
    }
}

/// Whether `message` is the type of a proto2 group field (printed inline, not a message).
fn is_group_type(message: &MessageDescriptor) -> bool {
    let Some(parent) = message.parent_message() else {
        return false;
    };
    parent.fields().any(|f| {
        f.is_group() && matches!(f.kind(), Kind::Message(m) if m.full_name() == message.full_name())
    })
}
