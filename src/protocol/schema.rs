//! JSON schemas as models see them, derived from the types their replies are read into (schemars).

use serde_json::Value;

/// The JSON schema of `T` for a model: subschemas inlined, no meta fields (`$schema`, titles, formats, defaults,
/// the type's own description), and an optional field is one that is not required (never `null`).
///
/// The schema is of what tandem itself would write (schemars' serialize contract): a field read with a default,
/// so that older transcripts still load, is still one a model must give; a field a model may leave out is
/// marked `skip_serializing_if`.
pub fn for_model<T: schemars::JsonSchema>() -> Value {
    let mut settings = schemars::generate::SchemaSettings::draft2020_12();
    settings.inline_subschemas = true;
    settings.meta_schema = None;
    settings.contract = schemars::generate::Contract::Serialize;
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut value = schema.to_value();
    if let Value::Object(top) = &mut value {
        top.remove("description");
    }
    plain(&mut value);
    value
}

/// Removes what a model does not need from a schema, in place, at every depth.
fn plain(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for key in ["$schema", "title", "format", "default"] {
                map.remove(key);
            }
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            // Property names are the fields' own: only the schemas under them are cleaned.
            if let Some(Value::Object(props)) = map.get_mut("properties") {
                props.values_mut().for_each(plain);
            }
            for (key, v) in map.iter_mut() {
                if key != "properties" {
                    plain(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(plain),
        _ => {}
    }
}
