//! A tool call's result as text for the model: text blocks as they are, other content described.

use serde_json::Value;

/// What a call came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOutcome {
    /// Whether the tool succeeded (`isError` unset or false).
    pub ok: bool,
    /// The text the model gets.
    pub text: String,
}

impl CallOutcome {
    /// A call that did not reach the tool, or failed.
    pub fn failed(text: String) -> CallOutcome {
        CallOutcome { ok: false, text }
    }
}

/// The outcome of a `tools/call` result (`CallToolResult` as JSON).
pub fn outcome(result: &Value) -> CallOutcome {
    let ok = result.get("isError").and_then(Value::as_bool) != Some(true);
    let mut parts: Vec<String> = Vec::new();
    for block in result
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        parts.push(block_text(block));
    }
    if parts.is_empty()
        && let Some(structured) = result.get("structuredContent")
    {
        parts.push(structured.to_string());
    }
    let text = parts.join("\n");
    CallOutcome {
        ok,
        text: if text.is_empty() {
            "(the tool returned nothing)".into()
        } else {
            text
        },
    }
}

fn block_text(block: &Value) -> String {
    let s = |k: &str| block.get(k).and_then(Value::as_str).unwrap_or("");
    let size = |k: &str| {
        block
            .get(k)
            .and_then(Value::as_str)
            .map_or(0, |d| d.len() * 3 / 4)
    };
    match s("type") {
        "text" => s("text").to_string(),
        "image" | "audio" => format!(
            "[{} {}, about {} bytes, not shown]",
            s("type"),
            s("mimeType"),
            size("data")
        ),
        "resource" => {
            let r = block.get("resource").cloned().unwrap_or_default();
            let uri = r.get("uri").and_then(Value::as_str).unwrap_or("?");
            match r.get("text").and_then(Value::as_str) {
                Some(text) => format!("[resource {uri}]\n{text}"),
                None => format!("[resource {uri}, binary, not shown]"),
            }
        }
        "resource_link" => format!("[link to resource {}]", s("uri")),
        other => format!("[{other} content, not shown]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_is_kept_and_other_content_described() {
        let r = json!({"content": [
            {"type": "text", "text": "hello"},
            {"type": "image", "mimeType": "image/png", "data": "AAAA"},
            {"type": "resource", "resource": {"uri": "file:///a", "text": "body"}},
        ]});
        assert_eq!(
            outcome(&r),
            CallOutcome {
                ok: true,
                text:
                    "hello\n[image image/png, about 3 bytes, not shown]\n[resource file:///a]\nbody"
                        .into()
            }
        );
        let e = json!({"content": [{"type": "text", "text": "no such file"}], "isError": true});
        assert!(!outcome(&e).ok);
        let structured = json!({"content": [], "structuredContent": {"n": 1}});
        assert_eq!(outcome(&structured).text, r#"{"n":1}"#);
    }
}
