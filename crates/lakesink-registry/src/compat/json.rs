//! JSON Schema compatibility, as Confluent's JSON Schema provider decides it: the two schemas
//! are read into a typed model (string, number, object, array, enum, const, combined, not,
//! ...) the way its schema loader reads them, the models are compared into a list of typed
//! differences, and the pair is compatible when every difference is one the STRICT policy
//! allows. "Compatible" means: every document valid under `original` is valid under `update`.
//!
//! The model follows the loader's reading of a schema object: `enum`, `allOf`/`anyOf`/`oneOf`,
//! `not`, `const` and `type` each give a schema, keywords of a type without an explicit `type`
//! give a schema of that type, and several of these together are an implicit `allOf`. A list of
//! types is an `anyOf`. `$ref`s are followed (local pointers, anchors, referenced schemas).

use std::collections::{HashMap, HashSet};

use crate::schema::json::{Draft, Json, JsonSchema, Location};

difference_types!(
    "The kinds of difference Confluent's JSON Schema diff reports (its names).",
    ID_CHANGED,
    DESCRIPTION_CHANGED,
    TITLE_CHANGED,
    DEFAULT_CHANGED,
    SCHEMA_ADDED,
    SCHEMA_REMOVED,
    TYPE_EXTENDED,
    TYPE_NARROWED,
    TYPE_CHANGED,
    MAX_LENGTH_ADDED,
    MAX_LENGTH_REMOVED,
    MAX_LENGTH_INCREASED,
    MAX_LENGTH_DECREASED,
    MIN_LENGTH_ADDED,
    MIN_LENGTH_REMOVED,
    MIN_LENGTH_INCREASED,
    MIN_LENGTH_DECREASED,
    PATTERN_ADDED,
    PATTERN_REMOVED,
    PATTERN_CHANGED,
    MAXIMUM_ADDED,
    MAXIMUM_REMOVED,
    MAXIMUM_INCREASED,
    MAXIMUM_DECREASED,
    MINIMUM_ADDED,
    MINIMUM_REMOVED,
    MINIMUM_INCREASED,
    MINIMUM_DECREASED,
    EXCLUSIVE_MAXIMUM_ADDED,
    EXCLUSIVE_MAXIMUM_REMOVED,
    EXCLUSIVE_MAXIMUM_INCREASED,
    EXCLUSIVE_MAXIMUM_DECREASED,
    EXCLUSIVE_MINIMUM_ADDED,
    EXCLUSIVE_MINIMUM_REMOVED,
    EXCLUSIVE_MINIMUM_INCREASED,
    EXCLUSIVE_MINIMUM_DECREASED,
    MULTIPLE_OF_ADDED,
    MULTIPLE_OF_REMOVED,
    MULTIPLE_OF_EXPANDED,
    MULTIPLE_OF_REDUCED,
    MULTIPLE_OF_CHANGED,
    REQUIRED_ATTRIBUTE_ADDED,
    REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED,
    REQUIRED_ATTRIBUTE_REMOVED,
    MAX_PROPERTIES_ADDED,
    MAX_PROPERTIES_REMOVED,
    MAX_PROPERTIES_INCREASED,
    MAX_PROPERTIES_DECREASED,
    MIN_PROPERTIES_ADDED,
    MIN_PROPERTIES_REMOVED,
    MIN_PROPERTIES_INCREASED,
    MIN_PROPERTIES_DECREASED,
    ADDITIONAL_PROPERTIES_ADDED,
    ADDITIONAL_PROPERTIES_REMOVED,
    ADDITIONAL_PROPERTIES_EXTENDED,
    ADDITIONAL_PROPERTIES_NARROWED,
    DEPENDENCY_ARRAY_ADDED,
    DEPENDENCY_ARRAY_REMOVED,
    DEPENDENCY_ARRAY_EXTENDED,
    DEPENDENCY_ARRAY_NARROWED,
    DEPENDENCY_ARRAY_CHANGED,
    DEPENDENCY_SCHEMA_ADDED,
    DEPENDENCY_SCHEMA_REMOVED,
    REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL,
    REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL,
    OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL,
    PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL,
    REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL,
    REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL,
    OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL,
    PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL,
    PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL,
    PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL,
    PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL,
    PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL,
    PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL,
    PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL,
    UNEVALUATED_PROPERTIES_ADDED,
    UNEVALUATED_PROPERTIES_REMOVED,
    UNEVALUATED_PROPERTIES_EXTENDED,
    UNEVALUATED_PROPERTIES_NARROWED,
    MAX_ITEMS_ADDED,
    MAX_ITEMS_REMOVED,
    MAX_ITEMS_INCREASED,
    MAX_ITEMS_DECREASED,
    MIN_ITEMS_ADDED,
    MIN_ITEMS_REMOVED,
    MIN_ITEMS_INCREASED,
    MIN_ITEMS_DECREASED,
    MAX_CONTAINS_ADDED,
    MAX_CONTAINS_REMOVED,
    MAX_CONTAINS_INCREASED,
    MAX_CONTAINS_DECREASED,
    MIN_CONTAINS_ADDED,
    MIN_CONTAINS_REMOVED,
    MIN_CONTAINS_INCREASED,
    MIN_CONTAINS_DECREASED,
    UNIQUE_ITEMS_ADDED,
    UNIQUE_ITEMS_REMOVED,
    ADDITIONAL_ITEMS_ADDED,
    ADDITIONAL_ITEMS_REMOVED,
    ADDITIONAL_ITEMS_EXTENDED,
    ADDITIONAL_ITEMS_NARROWED,
    UNEVALUATED_ITEMS_ADDED,
    UNEVALUATED_ITEMS_REMOVED,
    UNEVALUATED_ITEMS_EXTENDED,
    UNEVALUATED_ITEMS_NARROWED,
    ITEM_ADDED_TO_OPEN_CONTENT_MODEL,
    ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL,
    ITEM_ADDED_TO_CLOSED_CONTENT_MODEL,
    ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL,
    ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL,
    ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL,
    ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL,
    ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL,
    ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL,
    ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL,
    ENUM_ARRAY_EXTENDED,
    ENUM_ARRAY_NARROWED,
    ENUM_ARRAY_CHANGED,
    COMBINED_TYPE_EXTENDED,
    COMBINED_TYPE_CHANGED,
    PRODUCT_TYPE_EXTENDED,
    PRODUCT_TYPE_NARROWED,
    SUM_TYPE_EXTENDED,
    SUM_TYPE_NARROWED,
    COMBINED_TYPE_SUBSCHEMAS_CHANGED,
    NOT_TYPE_EXTENDED,
    NOT_TYPE_NARROWED,
);

use DifferenceType as T;

impl DifferenceType {
    /// Whether Confluent's STRICT policy (the default `compatibilityPolicy`) allows it.
    pub fn is_compatible(self) -> bool {
        matches!(
            self,
            T::ID_CHANGED
                | T::DESCRIPTION_CHANGED
                | T::TITLE_CHANGED
                | T::DEFAULT_CHANGED
                | T::SCHEMA_REMOVED
                | T::TYPE_EXTENDED
                | T::MAX_LENGTH_INCREASED
                | T::MAX_LENGTH_REMOVED
                | T::MIN_LENGTH_DECREASED
                | T::MIN_LENGTH_REMOVED
                | T::PATTERN_REMOVED
                | T::MAXIMUM_INCREASED
                | T::MAXIMUM_REMOVED
                | T::MINIMUM_DECREASED
                | T::MINIMUM_REMOVED
                | T::EXCLUSIVE_MAXIMUM_INCREASED
                | T::EXCLUSIVE_MAXIMUM_REMOVED
                | T::EXCLUSIVE_MINIMUM_DECREASED
                | T::EXCLUSIVE_MINIMUM_REMOVED
                | T::MULTIPLE_OF_REDUCED
                | T::MULTIPLE_OF_REMOVED
                | T::REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED
                | T::REQUIRED_ATTRIBUTE_REMOVED
                | T::DEPENDENCY_ARRAY_NARROWED
                | T::DEPENDENCY_ARRAY_REMOVED
                | T::DEPENDENCY_SCHEMA_REMOVED
                | T::MAX_PROPERTIES_INCREASED
                | T::MAX_PROPERTIES_REMOVED
                | T::MIN_PROPERTIES_DECREASED
                | T::MIN_PROPERTIES_REMOVED
                | T::ADDITIONAL_PROPERTIES_ADDED
                | T::ADDITIONAL_PROPERTIES_EXTENDED
                | T::UNEVALUATED_PROPERTIES_ADDED
                | T::UNEVALUATED_PROPERTIES_EXTENDED
                | T::PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL
                | T::REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL
                | T::OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL
                | T::PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL
                | T::PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL
                | T::PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                | T::PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                | T::MAX_ITEMS_INCREASED
                | T::MAX_ITEMS_REMOVED
                | T::MIN_ITEMS_DECREASED
                | T::MIN_ITEMS_REMOVED
                | T::MAX_CONTAINS_INCREASED
                | T::MAX_CONTAINS_REMOVED
                | T::MIN_CONTAINS_DECREASED
                | T::MIN_CONTAINS_REMOVED
                | T::UNIQUE_ITEMS_REMOVED
                | T::ADDITIONAL_ITEMS_ADDED
                | T::ADDITIONAL_ITEMS_EXTENDED
                | T::UNEVALUATED_ITEMS_ADDED
                | T::UNEVALUATED_ITEMS_EXTENDED
                | T::ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL
                | T::ITEM_ADDED_TO_CLOSED_CONTENT_MODEL
                | T::ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL
                | T::ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL
                | T::ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                | T::ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                | T::ENUM_ARRAY_EXTENDED
                | T::COMBINED_TYPE_EXTENDED
                | T::PRODUCT_TYPE_NARROWED
                | T::SUM_TYPE_EXTENDED
                | T::NOT_TYPE_NARROWED
        )
    }
}

/// One difference found when `update` replaces `original`, at a JSON pointer into the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub kind: DifferenceType,
    path: Vec<String>,
}

impl Difference {
    fn new(kind: DifferenceType) -> Difference {
        Difference {
            kind,
            path: Vec::new(),
        }
    }

    fn at(kind: DifferenceType, token: &str) -> Difference {
        Difference {
            kind,
            path: vec![token.to_owned()],
        }
    }

    /// The location, like `#/properties/name`.
    pub fn json_path(&self) -> String {
        format!("#/{}", self.path.join("/"))
    }

    /// Confluent's message: `update_name` stands for the schema replacing `original`, which is
    /// `original_name` ("new"/"old" for BACKWARD, "old"/"new" for FORWARD).
    pub fn message(&self, update_name: &str, original_name: &str) -> String {
        let (u, o) = (update_name, original_name);
        let p = self.json_path();
        let description = match self.kind {
            T::MAXIMUM_ADDED
            | T::MINIMUM_ADDED
            | T::EXCLUSIVE_MAXIMUM_ADDED
            | T::EXCLUSIVE_MINIMUM_ADDED
            | T::MULTIPLE_OF_ADDED
            | T::MAX_LENGTH_ADDED
            | T::MIN_LENGTH_ADDED
            | T::PATTERN_ADDED
            | T::REQUIRED_ATTRIBUTE_ADDED
            | T::MAX_PROPERTIES_ADDED
            | T::MIN_PROPERTIES_ADDED
            | T::DEPENDENCY_ARRAY_ADDED
            | T::DEPENDENCY_SCHEMA_ADDED
            | T::MAX_ITEMS_ADDED
            | T::MIN_ITEMS_ADDED
            | T::MAX_CONTAINS_ADDED
            | T::MIN_CONTAINS_ADDED
            | T::UNIQUE_ITEMS_ADDED
            | T::ADDITIONAL_ITEMS_REMOVED
            | T::ADDITIONAL_PROPERTIES_REMOVED
            | T::UNEVALUATED_PROPERTIES_REMOVED
            | T::UNEVALUATED_ITEMS_REMOVED => format!(
                "The keyword at path '{p}' in the {u} schema is not present in the {o} schema"
            ),
            T::MIN_LENGTH_INCREASED
            | T::MINIMUM_INCREASED
            | T::EXCLUSIVE_MINIMUM_INCREASED
            | T::MIN_PROPERTIES_INCREASED
            | T::MULTIPLE_OF_EXPANDED
            | T::MIN_ITEMS_INCREASED
            | T::MIN_CONTAINS_INCREASED => format!(
                "The value at path '{p}' in the {u} schema is more than its value in the {o} schema"
            ),
            T::MAX_LENGTH_DECREASED
            | T::MAXIMUM_DECREASED
            | T::MAX_ITEMS_DECREASED
            | T::MAX_CONTAINS_DECREASED
            | T::EXCLUSIVE_MAXIMUM_DECREASED
            | T::MAX_PROPERTIES_DECREASED => format!(
                "The value at path '{p}' in the {u} schema is less than its value in the {o} schema"
            ),
            T::PATTERN_CHANGED | T::MULTIPLE_OF_CHANGED | T::DEPENDENCY_ARRAY_CHANGED => {
                format!("The value at path '{p}' is different between the {u} and {o} schema")
            }
            T::ADDITIONAL_ITEMS_NARROWED
            | T::ENUM_ARRAY_NARROWED
            | T::SUM_TYPE_NARROWED
            | T::ADDITIONAL_PROPERTIES_NARROWED
            | T::UNEVALUATED_PROPERTIES_NARROWED
            | T::UNEVALUATED_ITEMS_NARROWED => format!(
                "An array or combined type at path '{p}' has fewer elements in the {u} schema than the {o} schema"
            ),
            T::DEPENDENCY_ARRAY_EXTENDED
            | T::PRODUCT_TYPE_EXTENDED
            | T::SUM_TYPE_EXTENDED
            | T::NOT_TYPE_EXTENDED => format!(
                "An array or combined type at path '{p}' has more elements in the {u} schema than the {o} schema"
            ),
            T::TYPE_CHANGED
            | T::TYPE_NARROWED
            | T::COMBINED_TYPE_CHANGED
            | T::COMBINED_TYPE_SUBSCHEMAS_CHANGED
            | T::ENUM_ARRAY_CHANGED => format!(
                "A type at path '{p}' is different between the {u} schema and the {o} schema"
            ),
            T::REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL
            | T::REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL
            | T::OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL
            | T::ITEM_ADDED_TO_OPEN_CONTENT_MODEL => format!(
                "The {u} schema has an open content model and has a property or item at path '{p}' which is missing in the {o} schema"
            ),
            T::REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL => format!(
                "The {u} schema has an unopen content model and has a required property at path '{p}' which is missing in the {o} schema"
            ),
            T::PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL
            | T::ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL => format!(
                "The {u} has a closed content model and is missing a property or item present at path '{p}' in the {o} schema"
            ),
            T::PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
            | T::ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL => format!(
                "A property or item is missing in the {u} schema but present at path '{p}' in the {o} schema and is not covered by its partially open content model"
            ),
            T::PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
            | T::ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL => format!(
                "The {u} schema has a property or item at path '{p}' which is missing in the {o} schema and is not covered by its partially open content model"
            ),
            _ => String::new(),
        };
        // Confluent's text closes the description with `'}`; kept as is.
        format!(
            "{{errorType:\"{}\", description:\"{description}'}}",
            self.kind.as_str()
        )
    }
}

/// Incompatible differences when `update` replaces `original` (Confluent's
/// `SchemaDiff.compare(original, update)` under the STRICT policy), as Confluent words them with
/// `update` called "new" and `original` "old" (BACKWARD's wording). Empty = compatible.
///
/// BACKWARD = `incompatibilities(old, new)`; FORWARD = `incompatibilities(new, old)`.
pub fn incompatibilities(original: &JsonSchema, update: &JsonSchema) -> Vec<String> {
    incompatibilities_named(original, update, "new", "old")
}

/// As [`incompatibilities`], naming the schemas in the messages: Confluent says
/// (`update_name`, `original_name`) = ("new", "old") for BACKWARD and ("old", "new") for
/// FORWARD.
pub fn incompatibilities_named(
    original: &JsonSchema,
    update: &JsonSchema,
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
pub fn differences(original: &JsonSchema, update: &JsonSchema) -> Vec<Difference> {
    let a = Model::load(original);
    let b = Model::load(update);
    let mut differ = Differ {
        a: &a,
        b: &b,
        memo: HashMap::new(),
        in_progress: HashSet::new(),
        truncations: 0,
        depth: 0,
    };
    differ.compare(Some(a.root), Some(b.root))
}

// ---------------------------------------------------------------------------------------------
// The model.

type NodeId = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Criterion {
    All,
    Any,
    One,
}

impl Criterion {
    fn keyword(self) -> &'static str {
        match self {
            Criterion::All => "allOf",
            Criterion::Any => "anyOf",
            Criterion::One => "oneOf",
        }
    }
}

#[derive(Debug, Clone, Default)]
struct ObjectModel {
    properties: Vec<(String, NodeId)>,
    required: Vec<String>,
    permits_additional: bool,
    additional: Option<NodeId>,
    pattern_properties: Vec<(String, NodeId)>,
    min_properties: Option<f64>,
    max_properties: Option<f64>,
    property_dependencies: Vec<(String, Vec<String>)>,
    schema_dependencies: Vec<(String, NodeId)>,
    unevaluated: Option<NodeId>,
}

#[derive(Debug, Clone, Default)]
struct ArrayModel {
    all_items: Option<NodeId>,
    item_schemas: Vec<NodeId>,
    permits_additional: bool,
    additional: Option<NodeId>,
    unevaluated: Option<NodeId>,
    min_items: Option<f64>,
    max_items: Option<f64>,
    unique: bool,
    min_contains: Option<f64>,
    max_contains: Option<f64>,
}

#[derive(Debug, Clone)]
enum Kind {
    /// `{}` or `true`: anything is valid.
    Empty,
    /// `false`: nothing is valid.
    False,
    String {
        min_length: Option<f64>,
        max_length: Option<f64>,
        pattern: Option<String>,
    },
    Number {
        integer: bool,
        minimum: Option<f64>,
        maximum: Option<f64>,
        exclusive_minimum: Option<f64>,
        exclusive_maximum: Option<f64>,
        multiple_of: Option<f64>,
    },
    Boolean,
    Null,
    Object(Box<ObjectModel>),
    Array(Box<ArrayModel>),
    Enum(Vec<Json>),
    Const(Json),
    Combined {
        criterion: Criterion,
        subschemas: Vec<NodeId>,
    },
    Not(NodeId),
    Conditional,
    Ref(NodeId),
}

impl Kind {
    /// Whether two nodes are of the same schema class.
    fn same_class(&self, other: &Kind) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    id: Option<String>,
    title: Option<String>,
    description: Option<String>,
    default: Option<Json>,
    connect_type: Option<String>,
    /// Identity for collapsing duplicate subschemas of a combined schema.
    key: String,
}

impl Node {
    fn plain(kind: Kind, key: String) -> Node {
        Node {
            kind,
            id: None,
            title: None,
            description: None,
            default: None,
            connect_type: None,
            key,
        }
    }
}

struct Model<'a> {
    schema: &'a JsonSchema,
    nodes: Vec<Node>,
    by_location: HashMap<Location, NodeId>,
    root: NodeId,
}

const STRING_KEYWORDS: &[&str] = &["minLength", "maxLength", "pattern", "format"];
const NUMBER_KEYWORDS: &[&str] = &[
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
];

fn object_keywords(draft: Draft) -> &'static [&'static str] {
    match draft {
        Draft::Draft4 => &[
            "properties",
            "required",
            "additionalProperties",
            "minProperties",
            "maxProperties",
            "patternProperties",
            "dependencies",
        ],
        Draft::Draft6 | Draft::Draft7 => &[
            "properties",
            "required",
            "additionalProperties",
            "minProperties",
            "maxProperties",
            "patternProperties",
            "dependencies",
            "propertyNames",
        ],
        Draft::Draft2019 | Draft::Draft2020 => &[
            "properties",
            "required",
            "additionalProperties",
            "minProperties",
            "maxProperties",
            "patternProperties",
            "dependencies",
            "propertyNames",
            "dependentRequired",
            "dependentSchemas",
            "unevaluatedProperties",
        ],
    }
}

fn array_keywords(draft: Draft) -> &'static [&'static str] {
    match draft {
        Draft::Draft4 => &[
            "items",
            "additionalItems",
            "minItems",
            "maxItems",
            "uniqueItems",
        ],
        Draft::Draft6 | Draft::Draft7 => &[
            "items",
            "additionalItems",
            "minItems",
            "maxItems",
            "uniqueItems",
            "contains",
        ],
        Draft::Draft2019 | Draft::Draft2020 => &[
            "items",
            "additionalItems",
            "prefixItems",
            "minItems",
            "maxItems",
            "uniqueItems",
            "contains",
            "minContains",
            "maxContains",
            "unevaluatedItems",
        ],
    }
}

fn number(members: &[(String, Json)], key: &str) -> Option<f64> {
    members
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.as_f64())
}

fn text(members: &[(String, Json)], key: &str) -> Option<String> {
    members
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.as_str())
        .map(str::to_owned)
}

impl<'a> Model<'a> {
    fn load(schema: &'a JsonSchema) -> Model<'a> {
        let mut model = Model {
            schema,
            nodes: Vec::new(),
            by_location: HashMap::new(),
            root: 0,
        };
        model.root = model.build((0, Vec::new()));
        model
    }

    fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    fn add(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn child(&self, location: &Location, tokens: &[&str]) -> Location {
        let mut path = location.1.clone();
        path.extend(tokens.iter().map(|t| (*t).to_owned()));
        (location.0, path)
    }

    /// The node for the schema at `location` (one node per location, so `$ref` cycles close).
    fn build(&mut self, location: Location) -> NodeId {
        if let Some(id) = self.by_location.get(&location) {
            return *id;
        }
        let id = self.add(Node::plain(Kind::Empty, String::new()));
        self.by_location.insert(location.clone(), id);
        let schema = self.schema;
        let json = schema.at(&location).cloned().unwrap_or(Json::Bool(true));
        let key = json.to_compact(true);
        let node = match &json {
            Json::Bool(false) => Node::plain(Kind::False, key),
            Json::Object(members) => self.build_object(&location, members, key),
            _ => Node::plain(Kind::Empty, key),
        };
        self.nodes[id] = node;
        id
    }

    fn build_object(
        &mut self,
        location: &Location,
        members: &[(String, Json)],
        key: String,
    ) -> Node {
        let draft = self
            .schema
            .documents()
            .get(location.0)
            .map_or(Draft::Draft7, |d| d.draft);
        let has = |k: &str| members.iter().any(|(m, _)| m == k);
        let mut parts: Vec<NodeId> = Vec::new();
        let mut consumed: HashSet<&str> = HashSet::new();

        if let Some(reference) = text(members, "$ref") {
            let target = self.schema.resolve_ref(location.0, &reference);
            let target = match target {
                Some(t) => self.build(t),
                None => self.add(Node::plain(Kind::Empty, String::new())),
            };
            let ref_node = Node::plain(Kind::Ref(target), format!("$ref:{key}"));
            if draft < Draft::Draft2019 {
                let mut node = ref_node;
                self.common(&mut node, members, draft);
                return node;
            }
            parts.push(self.add(ref_node));
            consumed.insert("$ref");
        }

        if has("enum") {
            consumed.insert("enum");
            let values = members
                .iter()
                .find(|(k, _)| k == "enum")
                .and_then(|(_, v)| v.as_array())
                .map(<[Json]>::to_vec)
                .unwrap_or_default();
            parts.push(self.add(Node::plain(Kind::Enum(values), format!("enum:{key}"))));
        }
        for (keyword, criterion) in [
            ("allOf", Criterion::All),
            ("anyOf", Criterion::Any),
            ("oneOf", Criterion::One),
        ] {
            if let Some(items) = members
                .iter()
                .find(|(k, _)| k == keyword)
                .and_then(|(_, v)| v.as_array())
            {
                consumed.insert(keyword);
                let subschemas = (0..items.len())
                    .map(|i| {
                        let index = i.to_string();
                        self.build(self.child(location, &[keyword, &index]))
                    })
                    .collect();
                parts.push(self.add(Node::plain(
                    Kind::Combined {
                        criterion,
                        subschemas,
                    },
                    format!("{keyword}:{key}"),
                )));
            }
        }
        if has("not") {
            consumed.insert("not");
            let inner = self.build(self.child(location, &["not"]));
            parts.push(self.add(Node::plain(Kind::Not(inner), format!("not:{key}"))));
        }
        if draft >= Draft::Draft6
            && let Some((_, value)) = members.iter().find(|(k, _)| k == "const")
        {
            consumed.insert("const");
            parts.push(self.add(Node::plain(
                Kind::Const(value.clone()),
                format!("const:{key}"),
            )));
        }
        if let Some((_, types)) = members.iter().find(|(k, _)| k == "type") {
            consumed.insert("type");
            match types {
                Json::Array(names) => {
                    let mut subschemas = Vec::new();
                    for name in names.iter().filter_map(Json::as_str) {
                        let (kind, used) = self.typed(location, members, draft, name);
                        consumed.extend(used);
                        subschemas.push(self.add(Node::plain(kind, format!("{name}:{key}"))));
                    }
                    parts.push(self.add(Node::plain(
                        Kind::Combined {
                            criterion: Criterion::Any,
                            subschemas,
                        },
                        format!("types:{key}"),
                    )));
                }
                Json::String(name) => {
                    let (kind, used) = self.typed(location, members, draft, name);
                    consumed.extend(used);
                    parts.push(self.add(Node::plain(kind, format!("{name}:{key}"))));
                }
                _ => {}
            }
        }
        // Keywords of a type without that type given.
        let unconsumed = |k: &&str| has(k) && !consumed.contains(k);
        if array_keywords(draft).iter().any(unconsumed) {
            let (kind, _) = self.typed(location, members, draft, "array");
            parts.push(self.add(Node::plain(kind, format!("array?:{key}"))));
        }
        if object_keywords(draft).iter().any(unconsumed) {
            let (kind, _) = self.typed(location, members, draft, "object");
            parts.push(self.add(Node::plain(kind, format!("object?:{key}"))));
        }
        if NUMBER_KEYWORDS.iter().any(unconsumed) {
            let (kind, _) = self.typed(location, members, draft, "number");
            parts.push(self.add(Node::plain(kind, format!("number?:{key}"))));
        }
        if STRING_KEYWORDS.iter().any(unconsumed) {
            let (kind, _) = self.typed(location, members, draft, "string");
            parts.push(self.add(Node::plain(kind, format!("string?:{key}"))));
        }
        if draft >= Draft::Draft7 && (has("if") || has("then") || has("else")) {
            parts.push(self.add(Node::plain(Kind::Conditional, format!("if:{key}"))));
        }

        let mut node = match parts.len() {
            0 => Node::plain(Kind::Empty, key),
            1 => {
                let mut node = self.nodes[parts[0]].clone();
                node.key = key;
                node
            }
            _ => Node::plain(
                Kind::Combined {
                    criterion: Criterion::All,
                    subschemas: parts,
                },
                key,
            ),
        };
        self.common(&mut node, members, draft);
        node
    }

    fn common(&self, node: &mut Node, members: &[(String, Json)], draft: Draft) {
        node.id = text(members, if draft == Draft::Draft4 { "id" } else { "$id" });
        node.title = text(members, "title");
        node.description = text(members, "description");
        node.default = members
            .iter()
            .find(|(k, _)| k == "default")
            .map(|(_, v)| v.clone());
        node.connect_type = text(members, "connect.type");
    }

    /// The schema for one `type` name, and the keywords it used.
    fn typed(
        &mut self,
        location: &Location,
        members: &[(String, Json)],
        draft: Draft,
        name: &str,
    ) -> (Kind, Vec<&'static str>) {
        match name {
            "string" => (
                Kind::String {
                    min_length: number(members, "minLength"),
                    max_length: number(members, "maxLength"),
                    pattern: text(members, "pattern"),
                },
                STRING_KEYWORDS.to_vec(),
            ),
            "number" | "integer" => {
                let (exclusive_minimum, exclusive_maximum) = if draft == Draft::Draft4 {
                    (None, None)
                } else {
                    (
                        number(members, "exclusiveMinimum"),
                        number(members, "exclusiveMaximum"),
                    )
                };
                (
                    Kind::Number {
                        integer: name == "integer",
                        minimum: number(members, "minimum"),
                        maximum: number(members, "maximum"),
                        exclusive_minimum,
                        exclusive_maximum,
                        multiple_of: number(members, "multipleOf"),
                    },
                    NUMBER_KEYWORDS.to_vec(),
                )
            }
            "boolean" => (Kind::Boolean, Vec::new()),
            "null" => (Kind::Null, Vec::new()),
            "object" => (
                Kind::Object(Box::new(self.object(location, members, draft))),
                object_keywords(draft).to_vec(),
            ),
            "array" => (
                Kind::Array(Box::new(self.array(location, members, draft))),
                array_keywords(draft).to_vec(),
            ),
            _ => (Kind::Empty, Vec::new()),
        }
    }

    fn schema_map(
        &mut self,
        location: &Location,
        members: &[(String, Json)],
        keyword: &str,
    ) -> Vec<(String, NodeId)> {
        let Some(entries) = members
            .iter()
            .find(|(k, _)| k == keyword)
            .and_then(|(_, v)| v.as_object())
        else {
            return Vec::new();
        };
        let names: Vec<String> = entries.iter().map(|(n, _)| n.clone()).collect();
        names
            .into_iter()
            .map(|name| {
                let id = self.build(self.child(location, &[keyword, &name]));
                (name, id)
            })
            .collect()
    }

    fn object(
        &mut self,
        location: &Location,
        members: &[(String, Json)],
        draft: Draft,
    ) -> ObjectModel {
        let mut model = ObjectModel {
            properties: self.schema_map(location, members, "properties"),
            pattern_properties: self.schema_map(location, members, "patternProperties"),
            permits_additional: true,
            min_properties: number(members, "minProperties"),
            max_properties: number(members, "maxProperties"),
            ..ObjectModel::default()
        };
        model.required = members
            .iter()
            .find(|(k, _)| k == "required")
            .and_then(|(_, v)| v.as_array())
            .map(|items| {
                items
                    .iter()
                    .filter_map(Json::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        match members.iter().find(|(k, _)| k == "additionalProperties") {
            Some((_, Json::Bool(permits))) => model.permits_additional = *permits,
            Some((_, Json::Object(_))) => {
                model.additional =
                    Some(self.build(self.child(location, &["additionalProperties"])));
            }
            _ => {}
        }
        let mut dependency_keywords = vec!["dependencies"];
        if draft >= Draft::Draft2019 {
            dependency_keywords.extend(["dependentRequired", "dependentSchemas"]);
        }
        for keyword in dependency_keywords {
            let Some(entries) = members
                .iter()
                .find(|(k, _)| k == keyword)
                .and_then(|(_, v)| v.as_object())
            else {
                continue;
            };
            for (name, value) in entries {
                match value {
                    Json::Array(items) => model.property_dependencies.push((
                        name.clone(),
                        items
                            .iter()
                            .filter_map(Json::as_str)
                            .map(str::to_owned)
                            .collect(),
                    )),
                    _ => {
                        let id = self.build(self.child(location, &[keyword, name]));
                        model.schema_dependencies.push((name.clone(), id));
                    }
                }
            }
        }
        if draft >= Draft::Draft2019 && members.iter().any(|(k, _)| k == "unevaluatedProperties") {
            model.unevaluated = Some(self.build(self.child(location, &["unevaluatedProperties"])));
        }
        model
    }

    fn array(
        &mut self,
        location: &Location,
        members: &[(String, Json)],
        draft: Draft,
    ) -> ArrayModel {
        let mut model = ArrayModel {
            permits_additional: true,
            min_items: number(members, "minItems"),
            max_items: number(members, "maxItems"),
            unique: members
                .iter()
                .any(|(k, v)| k == "uniqueItems" && v.as_bool() == Some(true)),
            ..ArrayModel::default()
        };
        if draft >= Draft::Draft2019 {
            model.min_contains = number(members, "minContains");
            model.max_contains = number(members, "maxContains");
        }
        let items = members.iter().find(|(k, _)| k == "items").map(|(_, v)| v);
        if draft == Draft::Draft2020 {
            if let Some(prefix) = members
                .iter()
                .find(|(k, _)| k == "prefixItems")
                .and_then(|(_, v)| v.as_array())
            {
                model.item_schemas = (0..prefix.len())
                    .map(|i| self.build(self.child(location, &["prefixItems", &i.to_string()])))
                    .collect();
            }
            // `items` is the schema of the items after `prefixItems`, or of all items.
            match items {
                Some(Json::Bool(false)) => model.permits_additional = false,
                Some(Json::Object(_)) if model.item_schemas.is_empty() => {
                    model.all_items = Some(self.build(self.child(location, &["items"])));
                }
                Some(Json::Object(_)) => {
                    model.additional = Some(self.build(self.child(location, &["items"])));
                }
                _ => {}
            }
        } else {
            match items {
                Some(Json::Array(list)) => {
                    model.item_schemas = (0..list.len())
                        .map(|i| self.build(self.child(location, &["items", &i.to_string()])))
                        .collect();
                }
                Some(_) => model.all_items = Some(self.build(self.child(location, &["items"]))),
                None => {}
            }
            match members.iter().find(|(k, _)| k == "additionalItems") {
                Some((_, Json::Bool(permits))) => model.permits_additional = *permits,
                Some((_, Json::Object(_))) => {
                    model.additional = Some(self.build(self.child(location, &["additionalItems"])));
                }
                _ => {}
            }
        }
        if draft >= Draft::Draft2019 && members.iter().any(|(k, _)| k == "unevaluatedItems") {
            model.unevaluated = Some(self.build(self.child(location, &["unevaluatedItems"])));
        }
        model
    }
}

// ---------------------------------------------------------------------------------------------
// The comparison.

struct Differ<'m, 'a> {
    a: &'m Model<'a>,
    b: &'m Model<'a>,
    memo: HashMap<(NodeId, NodeId), Vec<Difference>>,
    in_progress: HashSet<(NodeId, NodeId)>,
    /// How often a cycle was cut short (assumed compatible); results computed while that
    /// happened are not memoized, as they hold only within the enclosing comparison.
    truncations: usize,
    /// Nesting of `not` comparisons (each swaps the schemas' roles), bounded.
    depth: usize,
}

/// How deeply `not` inside `not` is compared before the inner pair is taken as compatible.
const MAX_NOT_DEPTH: usize = 16;

fn compatible(diffs: &[Difference]) -> bool {
    diffs.iter().all(|d| d.kind.is_compatible())
}

/// Prefixes the paths of `diffs` with `tokens`.
fn under(tokens: &[&str], diffs: Vec<Difference>) -> Vec<Difference> {
    diffs
        .into_iter()
        .map(|mut d| {
            let mut path: Vec<String> = tokens.iter().map(|t| (*t).to_owned()).collect();
            path.append(&mut d.path);
            d.path = path;
            d
        })
        .collect()
}

fn compare_limit(
    out: &mut Vec<Difference>,
    keyword: &str,
    original: Option<f64>,
    update: Option<f64>,
    kinds: [DifferenceType; 4],
) {
    let [added, removed, increased, decreased] = kinds;
    match (original, update) {
        (None, Some(_)) => out.push(Difference::at(added, keyword)),
        (Some(_), None) => out.push(Difference::at(removed, keyword)),
        (Some(o), Some(u)) if o < u => out.push(Difference::at(increased, keyword)),
        (Some(o), Some(u)) if o > u => out.push(Difference::at(decreased, keyword)),
        _ => {}
    }
}

/// Whether `a` is a multiple of `b` (both positive), allowing for binary rounding.
fn is_multiple(a: f64, b: f64) -> bool {
    if b == 0.0 {
        return false;
    }
    let q = a / b;
    (q - q.round()).abs() < 1e-9 * q.abs().max(1.0)
}

impl Differ<'_, '_> {
    /// Follows `$ref`s to the schema they name.
    fn target(model: &Model<'_>, mut id: NodeId) -> NodeId {
        for _ in 0..64 {
            match model.node(id).kind {
                Kind::Ref(next) => id = next,
                _ => break,
            }
        }
        id
    }

    fn compare(&mut self, original: Option<NodeId>, update: Option<NodeId>) -> Vec<Difference> {
        let (o, u) = match (original, update) {
            (None, None) => return Vec::new(),
            (None, Some(_)) => return vec![Difference::new(T::SCHEMA_ADDED)],
            (Some(_), None) => return vec![Difference::new(T::SCHEMA_REMOVED)],
            (Some(o), Some(u)) => (Self::target(self.a, o), Self::target(self.b, u)),
        };
        if let Some(cached) = self.memo.get(&(o, u)) {
            return cached.clone();
        }
        if !self.in_progress.insert((o, u)) {
            self.truncations += 1;
            return Vec::new();
        }
        let before = self.truncations;
        let result = self.compare_types(o, u);
        self.in_progress.remove(&(o, u));
        if self.truncations == before {
            self.memo.insert((o, u), result.clone());
        }
        result
    }

    fn compare_types(&mut self, o: NodeId, u: NodeId) -> Vec<Difference> {
        let (a, b) = (self.a, self.b);
        let (on, un) = (a.node(o), b.node(u));
        match (&on.kind, &un.kind) {
            (Kind::Combined { .. }, Kind::Combined { .. }) => {}
            (
                _,
                Kind::Combined {
                    criterion,
                    subschemas,
                },
            ) => {
                if subschemas.len() == 1 {
                    let diffs = self.compare(Some(o), Some(subschemas[0]));
                    if compatible(&diffs) {
                        return diffs;
                    }
                } else if *criterion != Criterion::All {
                    for s in subschemas.clone() {
                        let mut diffs = self.compare(Some(o), Some(s));
                        if compatible(&diffs) {
                            diffs.push(Difference::new(T::SUM_TYPE_EXTENDED));
                            return diffs;
                        }
                    }
                }
            }
            (
                Kind::Combined {
                    criterion,
                    subschemas,
                },
                _,
            ) => {
                if subschemas.len() == 1 {
                    let diffs = self.compare(Some(subschemas[0]), Some(u));
                    if compatible(&diffs) {
                        return diffs;
                    }
                } else if *criterion == Criterion::All {
                    for s in subschemas.clone() {
                        let mut diffs = self.compare(Some(s), Some(u));
                        if compatible(&diffs) {
                            diffs.push(Difference::new(T::PRODUCT_TYPE_NARROWED));
                            return diffs;
                        }
                    }
                }
            }
            _ => {}
        }

        if !on.kind.same_class(&un.kind) {
            if matches!(on.kind, Kind::False) || matches!(un.kind, Kind::Empty) {
                return Vec::new();
            }
            // Connect's JSON converter writes bytes (and decimals) with `connect.type: bytes`;
            // two such schemas count as the same type whatever else they say.
            if on.connect_type.as_deref() == Some("bytes")
                && un.connect_type.as_deref() == Some("bytes")
            {
                return Vec::new();
            }
            return vec![Difference::new(T::TYPE_CHANGED)];
        }

        let mut out = Vec::new();
        if on.id != un.id {
            out.push(Difference::new(T::ID_CHANGED));
        }
        if on.title != un.title {
            out.push(Difference::new(T::TITLE_CHANGED));
        }
        if on.description != un.description {
            out.push(Difference::new(T::DESCRIPTION_CHANGED));
        }
        let same_default = match (&on.default, &un.default) {
            (None, None) => true,
            (Some(x), Some(y)) => x.same(y),
            _ => false,
        };
        if !same_default {
            out.push(Difference::new(T::DEFAULT_CHANGED));
        }

        match (&on.kind, &un.kind) {
            (
                Kind::String {
                    min_length: omin,
                    max_length: omax,
                    pattern: opat,
                },
                Kind::String {
                    min_length: umin,
                    max_length: umax,
                    pattern: upat,
                },
            ) => {
                compare_limit(
                    &mut out,
                    "maxLength",
                    *omax,
                    *umax,
                    [
                        T::MAX_LENGTH_ADDED,
                        T::MAX_LENGTH_REMOVED,
                        T::MAX_LENGTH_INCREASED,
                        T::MAX_LENGTH_DECREASED,
                    ],
                );
                compare_limit(
                    &mut out,
                    "minLength",
                    *omin,
                    *umin,
                    [
                        T::MIN_LENGTH_ADDED,
                        T::MIN_LENGTH_REMOVED,
                        T::MIN_LENGTH_INCREASED,
                        T::MIN_LENGTH_DECREASED,
                    ],
                );
                match (opat, upat) {
                    (None, Some(_)) => out.push(Difference::at(T::PATTERN_ADDED, "pattern")),
                    (Some(_), None) => out.push(Difference::at(T::PATTERN_REMOVED, "pattern")),
                    (Some(x), Some(y)) if x != y => {
                        out.push(Difference::at(T::PATTERN_CHANGED, "pattern"));
                    }
                    _ => {}
                }
            }
            (
                Kind::Number {
                    integer: oint,
                    minimum: omin,
                    maximum: omax,
                    exclusive_minimum: oxmin,
                    exclusive_maximum: oxmax,
                    multiple_of: omul,
                },
                Kind::Number {
                    integer: uint,
                    minimum: umin,
                    maximum: umax,
                    exclusive_minimum: uxmin,
                    exclusive_maximum: uxmax,
                    multiple_of: umul,
                },
            ) => {
                compare_limit(
                    &mut out,
                    "maximum",
                    *omax,
                    *umax,
                    [
                        T::MAXIMUM_ADDED,
                        T::MAXIMUM_REMOVED,
                        T::MAXIMUM_INCREASED,
                        T::MAXIMUM_DECREASED,
                    ],
                );
                compare_limit(
                    &mut out,
                    "minimum",
                    *omin,
                    *umin,
                    [
                        T::MINIMUM_ADDED,
                        T::MINIMUM_REMOVED,
                        T::MINIMUM_INCREASED,
                        T::MINIMUM_DECREASED,
                    ],
                );
                compare_limit(
                    &mut out,
                    "exclusiveMaximum",
                    *oxmax,
                    *uxmax,
                    [
                        T::EXCLUSIVE_MAXIMUM_ADDED,
                        T::EXCLUSIVE_MAXIMUM_REMOVED,
                        T::EXCLUSIVE_MAXIMUM_INCREASED,
                        T::EXCLUSIVE_MAXIMUM_DECREASED,
                    ],
                );
                compare_limit(
                    &mut out,
                    "exclusiveMinimum",
                    *oxmin,
                    *uxmin,
                    [
                        T::EXCLUSIVE_MINIMUM_ADDED,
                        T::EXCLUSIVE_MINIMUM_REMOVED,
                        T::EXCLUSIVE_MINIMUM_INCREASED,
                        T::EXCLUSIVE_MINIMUM_DECREASED,
                    ],
                );
                match (omul, umul) {
                    (None, Some(_)) => out.push(Difference::at(T::MULTIPLE_OF_ADDED, "multipleOf")),
                    (Some(_), None) => {
                        out.push(Difference::at(T::MULTIPLE_OF_REMOVED, "multipleOf"));
                    }
                    (Some(x), Some(y)) if x != y => {
                        let kind = if is_multiple(*y, *x) {
                            T::MULTIPLE_OF_EXPANDED
                        } else if is_multiple(*x, *y) {
                            T::MULTIPLE_OF_REDUCED
                        } else {
                            T::MULTIPLE_OF_CHANGED
                        };
                        out.push(Difference::at(kind, "multipleOf"));
                    }
                    _ => {}
                }
                if oint != uint {
                    out.push(Difference::new(if *oint {
                        T::TYPE_EXTENDED
                    } else {
                        T::TYPE_NARROWED
                    }));
                }
            }
            (Kind::Const(x), Kind::Const(y)) if !x.same(y) => {
                out.push(Difference::at(T::ENUM_ARRAY_CHANGED, "const"));
            }
            (Kind::Enum(x), Kind::Enum(y)) => {
                let contains_all = |big: &[Json], small: &[Json]| {
                    small.iter().all(|v| big.iter().any(|w| w.same(v)))
                };
                if !(contains_all(x, y) && contains_all(y, x)) {
                    let kind = if contains_all(y, x) {
                        T::ENUM_ARRAY_EXTENDED
                    } else if contains_all(x, y) {
                        T::ENUM_ARRAY_NARROWED
                    } else {
                        T::ENUM_ARRAY_CHANGED
                    };
                    out.push(Difference::at(kind, "enum"));
                }
            }
            (
                Kind::Combined {
                    criterion: oc,
                    subschemas: os,
                },
                Kind::Combined {
                    criterion: uc,
                    subschemas: us,
                },
            ) => {
                let (oc, uc, os, us) = (*oc, *uc, os.clone(), us.clone());
                out.extend(self.compare_combined(oc, &os, uc, &us));
            }
            (Kind::Not(x), Kind::Not(y)) => {
                // The negated schemas swap roles: `not A` → `not B` accepts more when B
                // accepts less than A. Only the verdict is kept, as Confluent does.
                let inner = if self.depth < MAX_NOT_DEPTH {
                    let mut swapped = Differ {
                        a: self.b,
                        b: self.a,
                        memo: HashMap::new(),
                        in_progress: HashSet::new(),
                        truncations: 0,
                        depth: self.depth + 1,
                    };
                    swapped.compare(Some(*y), Some(*x))
                } else {
                    Vec::new()
                };
                let kind = if compatible(&inner) {
                    T::NOT_TYPE_NARROWED
                } else {
                    T::NOT_TYPE_EXTENDED
                };
                out.push(Difference::at(kind, "not"));
            }
            (Kind::Object(x), Kind::Object(y)) => {
                let (x, y) = (x.clone(), y.clone());
                out.extend(self.compare_objects(&x, &y));
            }
            (Kind::Array(x), Kind::Array(y)) => {
                let (x, y) = (x.clone(), y.clone());
                out.extend(self.compare_arrays(&x, &y));
            }
            _ => {}
        }
        out
    }

    fn compare_combined(
        &mut self,
        oc: Criterion,
        os: &[NodeId],
        uc: Criterion,
        us: &[NodeId],
    ) -> Vec<Difference> {
        let mut out = Vec::new();
        if oc != uc {
            let extended = uc == Criterion::Any
                || (os.len() == 1 && us.len() == 1)
                || (os.len() == 1 && uc == Criterion::One)
                || (us.len() == 1 && oc == Criterion::All);
            if extended {
                out.push(Difference::new(T::COMBINED_TYPE_EXTENDED));
            } else {
                out.push(Difference::new(T::COMBINED_TYPE_CHANGED));
                return out;
            }
        }
        // Duplicate subschemas collapse.
        let dedupe = |model: &Model<'_>, ids: &[NodeId]| {
            let mut seen = HashSet::new();
            ids.iter()
                .copied()
                .filter(|id| seen.insert(model.node(*id).key.clone()))
                .collect::<Vec<_>>()
        };
        let os = dedupe(self.a, os);
        let us = dedupe(self.b, us);
        if os.len() < us.len() {
            out.push(Difference::new(if uc == Criterion::All {
                T::PRODUCT_TYPE_EXTENDED
            } else {
                T::SUM_TYPE_EXTENDED
            }));
        } else if os.len() > us.len() {
            out.push(Difference::new(if oc == Criterion::All {
                T::PRODUCT_TYPE_NARROWED
            } else {
                T::SUM_TYPE_NARROWED
            }));
        }
        // Compatible pairs, then a maximum matching between the two lists.
        let mut edges: Vec<Vec<Option<Vec<Difference>>>> = Vec::new();
        for (i, o) in os.iter().enumerate() {
            let token = format!("{}/{i}", oc.keyword());
            let mut row = Vec::new();
            for u in &us {
                let diffs = under(&[&token], self.compare(Some(*o), Some(*u)));
                row.push(compatible(&diffs).then_some(diffs));
            }
            edges.push(row);
        }
        let matching = max_matching(&edges, us.len());
        for (j, i) in matching.iter().enumerate() {
            if let Some(i) = i
                && let Some(diffs) = &edges[*i][j]
            {
                out.extend(diffs.iter().cloned());
            }
        }
        let matched = matching.iter().filter(|m| m.is_some()).count();
        if matched < os.len().min(us.len()) {
            out.push(Difference::new(T::COMBINED_TYPE_SUBSCHEMAS_CHANGED));
        }
        out
    }

    fn is_open_object(model: &Model<'_>, object: &ObjectModel) -> bool {
        object.permits_additional
            && object.additional.is_none()
            && object.pattern_properties.is_empty()
            && object
                .unevaluated
                .is_none_or(|u| matches!(model.node(u).kind, Kind::Empty))
    }

    fn partial_object_schema(
        model: &Model<'_>,
        object: &ObjectModel,
        name: &str,
    ) -> Option<NodeId> {
        for (pattern, id) in &object.pattern_properties {
            if regex::Regex::new(pattern).is_ok_and(|r| r.is_match(name)) {
                return Some(*id);
            }
        }
        if object.additional.is_some() {
            return object.additional;
        }
        if object.permits_additional
            && let Some(u) = object.unevaluated
            && !matches!(model.node(u).kind, Kind::False | Kind::Empty)
        {
            return Some(u);
        }
        None
    }

    fn compare_objects(&mut self, o: &ObjectModel, u: &ObjectModel) -> Vec<Difference> {
        let (a, b) = (self.a, self.b);
        let mut out = Vec::new();
        let find = |props: &[(String, NodeId)], name: &str| {
            props.iter().find(|(n, _)| n == name).map(|(_, id)| *id)
        };
        // required
        for (name, _) in &o.properties {
            if let Some(update_prop) = find(&u.properties, name) {
                let was = o.required.contains(name);
                let is = u.required.contains(name);
                let kind = match (was, is) {
                    (true, false) => Some(T::REQUIRED_ATTRIBUTE_REMOVED),
                    (false, true) if b.node(update_prop).default.is_some() => {
                        Some(T::REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED)
                    }
                    (false, true) => Some(T::REQUIRED_ATTRIBUTE_ADDED),
                    _ => None,
                };
                if let Some(kind) = kind {
                    out.push(Difference {
                        kind,
                        path: vec!["required".to_owned(), name.clone()],
                    });
                }
            }
        }
        // properties
        let mut names: Vec<&String> = o.properties.iter().map(|(n, _)| n).collect();
        for (n, _) in &u.properties {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        for name in names {
            let here = ["properties", name.as_str()];
            let at = |kind| Difference {
                kind,
                path: vec!["properties".to_owned(), name.clone()],
            };
            match (find(&o.properties, name), find(&u.properties, name)) {
                (Some(op), None) => {
                    if Self::is_open_object(b, u) {
                        out.push(at(T::PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL));
                    } else if let Some(partial) = Self::partial_object_schema(b, u, name) {
                        let sub = under(&here, self.compare(Some(op), Some(partial)));
                        let ok = compatible(&sub);
                        out.extend(sub);
                        out.push(at(if ok {
                            T::PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                        } else {
                            T::PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                        }));
                    } else if matches!(a.node(op).kind, Kind::False) {
                        out.push(at(T::PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL));
                    } else {
                        out.push(at(T::PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL));
                    }
                }
                (None, Some(up)) => {
                    let required = u.required.contains(name);
                    let has_default = b.node(up).default.is_some();
                    if Self::is_open_object(a, o) {
                        out.push(at(if matches!(b.node(up).kind, Kind::Empty) {
                            T::PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL
                        } else if required && has_default {
                            T::REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL
                        } else if required {
                            T::REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL
                        } else {
                            T::OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL
                        }));
                    } else {
                        if let Some(partial) = Self::partial_object_schema(a, o, name) {
                            let sub = under(&here, self.compare(Some(partial), Some(up)));
                            let ok = compatible(&sub);
                            out.extend(sub);
                            out.push(at(if ok {
                                T::PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                            } else {
                                T::PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                            }));
                        }
                        out.push(at(if required && has_default {
                            T::REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL
                        } else if required {
                            T::REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL
                        } else {
                            T::OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL
                        }));
                    }
                }
                (Some(op), Some(up)) => {
                    out.extend(under(&here, self.compare(Some(op), Some(up))));
                }
                (None, None) => {}
            }
        }
        // dependencies
        let mut keys: Vec<&String> = o.property_dependencies.iter().map(|(n, _)| n).collect();
        for (n, _) in &u.property_dependencies {
            if !keys.contains(&n) {
                keys.push(n);
            }
        }
        for key in keys {
            let get = |deps: &[(String, Vec<String>)]| {
                deps.iter().find(|(n, _)| n == key).map(|(_, v)| v.clone())
            };
            let kind = match (get(&o.property_dependencies), get(&u.property_dependencies)) {
                (_, None) => Some(T::DEPENDENCY_ARRAY_REMOVED),
                (None, Some(_)) => Some(T::DEPENDENCY_ARRAY_ADDED),
                (Some(x), Some(y)) => {
                    let contains_all =
                        |big: &[String], small: &[String]| small.iter().all(|s| big.contains(s));
                    if contains_all(&x, &y) && contains_all(&y, &x) {
                        None
                    } else if contains_all(&y, &x) {
                        Some(T::DEPENDENCY_ARRAY_EXTENDED)
                    } else if contains_all(&x, &y) {
                        Some(T::DEPENDENCY_ARRAY_NARROWED)
                    } else {
                        Some(T::DEPENDENCY_ARRAY_CHANGED)
                    }
                }
            };
            if let Some(kind) = kind {
                out.push(Difference {
                    kind,
                    path: vec!["dependencies".to_owned(), key.clone()],
                });
            }
        }
        let mut keys: Vec<&String> = o.schema_dependencies.iter().map(|(n, _)| n).collect();
        for (n, _) in &u.schema_dependencies {
            if !keys.contains(&n) {
                keys.push(n);
            }
        }
        for key in keys {
            let here = ["dependencies", key.as_str()];
            match (
                find(&o.schema_dependencies, key),
                find(&u.schema_dependencies, key),
            ) {
                (_, None) => out.extend(under(
                    &here,
                    vec![Difference::new(T::DEPENDENCY_SCHEMA_REMOVED)],
                )),
                (None, Some(_)) => {
                    out.extend(under(
                        &here,
                        vec![Difference::new(T::DEPENDENCY_SCHEMA_ADDED)],
                    ));
                }
                (Some(x), Some(y)) => out.extend(under(&here, self.compare(Some(x), Some(y)))),
            }
        }
        // additionalProperties
        let additional = if o.permits_additional != u.permits_additional {
            vec![Difference::new(if u.permits_additional {
                T::ADDITIONAL_PROPERTIES_ADDED
            } else {
                T::ADDITIONAL_PROPERTIES_REMOVED
            })]
        } else {
            match (o.additional, u.additional) {
                (None, Some(_)) => vec![Difference::new(T::ADDITIONAL_PROPERTIES_NARROWED)],
                (Some(_), None) => vec![Difference::new(T::ADDITIONAL_PROPERTIES_EXTENDED)],
                (x, y) => self.compare(x, y),
            }
        };
        out.extend(under(&["additionalProperties"], additional));
        // unevaluatedProperties
        let unevaluated = self.compare_unevaluated(
            o.unevaluated,
            u.unevaluated,
            [
                T::UNEVALUATED_PROPERTIES_ADDED,
                T::UNEVALUATED_PROPERTIES_REMOVED,
                T::UNEVALUATED_PROPERTIES_EXTENDED,
                T::UNEVALUATED_PROPERTIES_NARROWED,
            ],
        );
        out.extend(under(&["unevaluatedProperties"], unevaluated));
        compare_limit(
            &mut out,
            "maxProperties",
            o.max_properties,
            u.max_properties,
            [
                T::MAX_PROPERTIES_ADDED,
                T::MAX_PROPERTIES_REMOVED,
                T::MAX_PROPERTIES_INCREASED,
                T::MAX_PROPERTIES_DECREASED,
            ],
        );
        compare_limit(
            &mut out,
            "minProperties",
            o.min_properties,
            u.min_properties,
            [
                T::MIN_PROPERTIES_ADDED,
                T::MIN_PROPERTIES_REMOVED,
                T::MIN_PROPERTIES_INCREASED,
                T::MIN_PROPERTIES_DECREASED,
            ],
        );
        out
    }

    /// `unevaluatedProperties`/`unevaluatedItems`: kinds are [added, removed, extended,
    /// narrowed], where "added" means the update allows more.
    fn compare_unevaluated(
        &mut self,
        o: Option<NodeId>,
        u: Option<NodeId>,
        [added, removed, extended, narrowed]: [DifferenceType; 4],
    ) -> Vec<Difference> {
        let (a, b) = (self.a, self.b);
        let is_false = |m: &Model<'_>, id: NodeId| matches!(m.node(id).kind, Kind::False);
        let is_empty = |m: &Model<'_>, id: NodeId| matches!(m.node(id).kind, Kind::Empty);
        let kind = match (o, u) {
            (None, None) => return Vec::new(),
            (None, Some(y)) => {
                if is_false(b, y) {
                    removed
                } else {
                    narrowed
                }
            }
            (Some(x), None) => {
                if is_false(a, x) {
                    added
                } else {
                    extended
                }
            }
            (Some(x), Some(y)) => {
                if is_false(a, x) && !is_false(b, y) {
                    added
                } else if !is_false(a, x) && is_false(b, y) {
                    removed
                } else if is_empty(a, x) && !is_empty(b, y) {
                    narrowed
                } else if !is_empty(a, x) && is_empty(b, y) {
                    extended
                } else {
                    return self.compare(Some(x), Some(y));
                }
            }
        };
        vec![Difference::new(kind)]
    }

    fn is_open_array(model: &Model<'_>, array: &ArrayModel) -> bool {
        array.permits_additional
            && array.additional.is_none()
            && array
                .unevaluated
                .is_none_or(|u| matches!(model.node(u).kind, Kind::Empty))
    }

    fn partial_array_schema(model: &Model<'_>, array: &ArrayModel) -> Option<NodeId> {
        if array.additional.is_some() {
            return array.additional;
        }
        if array.permits_additional
            && let Some(u) = array.unevaluated
            && !matches!(model.node(u).kind, Kind::False | Kind::Empty)
        {
            return Some(u);
        }
        None
    }

    fn compare_arrays(&mut self, o: &ArrayModel, u: &ArrayModel) -> Vec<Difference> {
        let (a, b) = (self.a, self.b);
        let mut out = under(&["items"], self.compare(o.all_items, u.all_items));
        let common = o.item_schemas.len().min(u.item_schemas.len());
        for i in 0..common {
            let token = format!("items/{i}");
            out.extend(under(
                &[&token],
                self.compare(Some(o.item_schemas[i]), Some(u.item_schemas[i])),
            ));
        }
        for (i, item) in o.item_schemas.iter().enumerate().skip(common) {
            let token = format!("items/{i}");
            let at = |kind| Difference {
                kind,
                path: vec![token.clone()],
            };
            if Self::is_open_array(b, u) {
                out.push(at(T::ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL));
            } else if let Some(partial) = Self::partial_array_schema(b, u) {
                let sub = under(&[&token], self.compare(Some(*item), Some(partial)));
                let ok = compatible(&sub);
                out.extend(sub);
                out.push(at(if ok {
                    T::ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                } else {
                    T::ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                }));
            } else if matches!(a.node(*item).kind, Kind::False) {
                out.push(at(T::ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL));
            } else {
                out.push(at(T::ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL));
            }
        }
        for (i, item) in u.item_schemas.iter().enumerate().skip(common) {
            let token = format!("items/{i}");
            let at = |kind| Difference {
                kind,
                path: vec![token.clone()],
            };
            if Self::is_open_array(a, o) {
                out.push(at(if matches!(b.node(*item).kind, Kind::Empty) {
                    T::ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL
                } else {
                    T::ITEM_ADDED_TO_OPEN_CONTENT_MODEL
                }));
            } else if let Some(partial) = Self::partial_array_schema(a, o) {
                let sub = under(&[&token], self.compare(Some(partial), Some(*item)));
                let ok = compatible(&sub);
                out.extend(sub);
                out.push(at(if ok {
                    T::ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                } else {
                    T::ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                }));
            } else {
                out.push(at(T::ITEM_ADDED_TO_CLOSED_CONTENT_MODEL));
            }
        }
        // additionalItems
        let additional = if o.permits_additional != u.permits_additional {
            vec![Difference::new(if o.permits_additional {
                T::ADDITIONAL_ITEMS_REMOVED
            } else {
                T::ADDITIONAL_ITEMS_ADDED
            })]
        } else {
            match (o.additional, u.additional) {
                (None, Some(_)) => vec![Difference::new(T::ADDITIONAL_ITEMS_NARROWED)],
                (Some(_), None) => vec![Difference::new(T::ADDITIONAL_ITEMS_EXTENDED)],
                (x, y) => self.compare(x, y),
            }
        };
        out.extend(under(&["additionalItems"], additional));
        let unevaluated = self.compare_unevaluated(
            o.unevaluated,
            u.unevaluated,
            [
                T::UNEVALUATED_ITEMS_ADDED,
                T::UNEVALUATED_ITEMS_REMOVED,
                T::UNEVALUATED_ITEMS_EXTENDED,
                T::UNEVALUATED_ITEMS_NARROWED,
            ],
        );
        out.extend(under(&["unevaluatedItems"], unevaluated));
        compare_limit(
            &mut out,
            "maxItems",
            o.max_items,
            u.max_items,
            [
                T::MAX_ITEMS_ADDED,
                T::MAX_ITEMS_REMOVED,
                T::MAX_ITEMS_INCREASED,
                T::MAX_ITEMS_DECREASED,
            ],
        );
        compare_limit(
            &mut out,
            "minItems",
            o.min_items,
            u.min_items,
            [
                T::MIN_ITEMS_ADDED,
                T::MIN_ITEMS_REMOVED,
                T::MIN_ITEMS_INCREASED,
                T::MIN_ITEMS_DECREASED,
            ],
        );
        if o.unique != u.unique {
            out.push(Difference::at(
                if o.unique {
                    T::UNIQUE_ITEMS_REMOVED
                } else {
                    T::UNIQUE_ITEMS_ADDED
                },
                "uniqueItems",
            ));
        }
        compare_limit(
            &mut out,
            "maxContains",
            o.max_contains,
            u.max_contains,
            [
                T::MAX_CONTAINS_ADDED,
                T::MAX_CONTAINS_REMOVED,
                T::MAX_CONTAINS_INCREASED,
                T::MAX_CONTAINS_DECREASED,
            ],
        );
        compare_limit(
            &mut out,
            "minContains",
            o.min_contains,
            u.min_contains,
            [
                T::MIN_CONTAINS_ADDED,
                T::MIN_CONTAINS_REMOVED,
                T::MIN_CONTAINS_INCREASED,
                T::MIN_CONTAINS_DECREASED,
            ],
        );
        out
    }
}

/// A maximum bipartite matching (augmenting paths): for each right vertex, its left partner.
fn max_matching<E>(edges: &[Vec<Option<E>>], right: usize) -> Vec<Option<usize>> {
    fn augment<E>(
        left: usize,
        edges: &[Vec<Option<E>>],
        seen: &mut [bool],
        partner: &mut [Option<usize>],
    ) -> bool {
        for (j, edge) in edges[left].iter().enumerate() {
            if edge.is_some() && !seen[j] {
                seen[j] = true;
                if partner[j].is_none_or(|other| augment(other, edges, seen, partner)) {
                    partner[j] = Some(left);
                    return true;
                }
            }
        }
        false
    }
    let mut partner = vec![None; right];
    for left in 0..edges.len() {
        let mut seen = vec![false; right];
        augment(left, edges, &mut seen, &mut partner);
    }
    partner
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(original: &str, update: &str) -> Vec<&'static str> {
        let o = JsonSchema::parse(original, &[]).unwrap();
        let u = JsonSchema::parse(update, &[]).unwrap();
        differences(&o, &u)
            .iter()
            .map(|d| d.kind.as_str())
            .collect()
    }

    #[test]
    fn open_model_property_added_is_reported_with_confluent_text() {
        let o = JsonSchema::parse(
            r#"{"type":"object","properties":{"a":{"type":"string"}}}"#,
            &[],
        )
        .unwrap();
        let u = JsonSchema::parse(
            r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}}}"#,
            &[],
        )
        .unwrap();
        assert_eq!(
            incompatibilities(&o, &u),
            vec![
                "{errorType:\"OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL\", description:\"The new schema has an open content model and has a property or item at path '#/properties/b' which is missing in the old schema'}"
                    .to_owned()
            ]
        );
        assert!(incompatibilities(&u, &o).is_empty());
    }

    #[test]
    fn synthetic_all_of_and_type_lists() {
        assert_eq!(
            kinds(r#"{"type":"string"}"#, r#"{"type":["string","null"]}"#),
            vec!["SUM_TYPE_EXTENDED"]
        );
        assert_eq!(
            kinds(r#"{"type":["string","null"]}"#, r#"{"type":"string"}"#),
            vec!["TYPE_CHANGED"]
        );
        assert_eq!(
            kinds(
                r#"{"type":"string","enum":["a"]}"#,
                r#"{"type":"string","enum":["a","b"]}"#
            ),
            vec!["ENUM_ARRAY_EXTENDED"]
        );
        assert_eq!(
            kinds(r#"{"type":"string","enum":["a"]}"#, r#"{"type":"string"}"#),
            vec!["PRODUCT_TYPE_NARROWED"]
        );
    }

    #[test]
    fn recursive_references_terminate() {
        let s = r##"{"$ref":"#/definitions/node","definitions":{"node":{"type":"object","properties":{"next":{"$ref":"#/definitions/node"},"v":{"type":"integer"}}}}}"##;
        assert!(kinds(s, s).is_empty());
        let t = r##"{"$ref":"#/definitions/node","definitions":{"node":{"type":"object","properties":{"next":{"$ref":"#/definitions/node"},"v":{"type":"number"}}}}}"##;
        assert_eq!(kinds(s, t), vec!["TYPE_EXTENDED"]);
    }
}
