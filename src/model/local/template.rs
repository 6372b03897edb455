//! Rendering a conversation into the model's prompt format.
//!
//! Order of preference: the GGUF's template applied by llama.cpp's built-in renderer; the same template as
//! Jinja (minijinja with Python compatibility) when llama.cpp does not recognise it; ChatML as the last
//! resort. Which one is in use is reported by the engine (and `tandem doctor`), never silent.

use std::path::PathBuf;

use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};

use super::types::EngineError;
use crate::model::ChatMessage;

/// Which template the user asked for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TemplateChoice {
    /// The GGUF's own template.
    Auto,
    /// ChatML, whatever the GGUF says.
    ChatMl,
    /// A Jinja template read from a file.
    Jinja {
        /// The template text.
        source: String,
        /// The file it came from.
        path: PathBuf,
    },
}

/// How prompts are actually rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateMode {
    /// llama.cpp's built-in renderer for the GGUF's template.
    LlamaCpp,
    /// The GGUF's (or a user's) template rendered as Jinja.
    Jinja(String),
    /// ChatML, with the reason it was chosen.
    ChatMl(String),
}

impl std::fmt::Display for TemplateMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TemplateMode::LlamaCpp => f.write_str("the GGUF's template, applied by llama.cpp"),
            TemplateMode::Jinja(origin) => write!(f, "Jinja template from {origin}"),
            TemplateMode::ChatMl(reason) => write!(f, "ChatML fallback ({reason})"),
        }
    }
}

/// Renders conversations for one model.
pub struct ChatFormatter {
    mode: TemplateMode,
    llama: Option<LlamaChatTemplate>,
    jinja: Option<minijinja::Environment<'static>>,
    bos: String,
    eos: String,
}

const PROBE: [(&str, &str); 3] = [("system", "s"), ("user", "u"), ("assistant", "a")];

impl ChatFormatter {
    /// Chooses how to render for `model`, trying each option on a small probe conversation.
    pub fn new(model: &LlamaModel, choice: &TemplateChoice) -> Result<Self, EngineError> {
        let vocab = model.vocab();
        let (bos, eos) = (piece_of(model, vocab.bos()), piece_of(model, vocab.eos()));
        let mut f = ChatFormatter {
            mode: TemplateMode::ChatMl(String::new()),
            llama: None,
            jinja: None,
            bos,
            eos,
        };
        let probe: Vec<ChatMessage> = PROBE
            .iter()
            .map(|(r, c)| match *r {
                "system" => ChatMessage::system(*c),
                "assistant" => ChatMessage::assistant(*c),
                _ => ChatMessage::user(*c),
            })
            .collect();
        match choice {
            TemplateChoice::ChatMl => {
                f.mode = TemplateMode::ChatMl("chat_template = \"chatml\"".into())
            }
            TemplateChoice::Jinja { source, path } => {
                f.jinja = Some(
                    jinja_env(source.clone())
                        .map_err(|e| EngineError::Template(format!("{}: {e}", path.display())))?,
                );
                f.mode = TemplateMode::Jinja(path.display().to_string());
                f.render(model, &probe)
                    .map_err(|e| EngineError::Template(format!("{}: {e}", path.display())))?;
            }
            TemplateChoice::Auto => match model.chat_template(None) {
                Err(_) => f.mode = TemplateMode::ChatMl("the GGUF has no chat template".into()),
                Ok(tmpl) => {
                    let source = tmpl.to_string().unwrap_or_default();
                    f.llama = Some(tmpl);
                    f.mode = TemplateMode::LlamaCpp;
                    if f.render(model, &probe).is_err() {
                        f.llama = None;
                        f.mode = match jinja_env(source) {
                            Ok(env) => {
                                f.jinja = Some(env);
                                TemplateMode::Jinja("the GGUF".into())
                            }
                            Err(e) => TemplateMode::ChatMl(format!(
                                "the GGUF's template is not usable: {e}"
                            )),
                        };
                        if f.jinja.is_some() && f.render(model, &probe).is_err() {
                            f.jinja = None;
                            f.mode = TemplateMode::ChatMl(
                                "neither llama.cpp nor Jinja could apply the GGUF's template"
                                    .into(),
                            );
                        }
                    }
                }
            },
        }
        if let TemplateMode::ChatMl(reason) = &f.mode {
            tracing::warn!("chat template: using ChatML: {reason}");
        }
        Ok(f)
    }

    /// How prompts are rendered.
    pub fn mode(&self) -> &TemplateMode {
        &self.mode
    }

    /// Stop strings the mode needs beyond the model's end-of-generation tokens.
    pub fn extra_stops(&self) -> Vec<String> {
        match self.mode {
            TemplateMode::ChatMl(_) => vec!["<|im_end|>".into()],
            _ => Vec::new(),
        }
    }

    /// Renders a conversation, ending with the opening of the assistant's reply.
    pub fn render(
        &self,
        model: &LlamaModel,
        messages: &[ChatMessage],
    ) -> Result<String, EngineError> {
        if let Some(tmpl) = &self.llama {
            let chat = messages
                .iter()
                .map(|m| {
                    LlamaChatMessage::new(m.role.as_str().to_string(), m.content.replace('\0', ""))
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| EngineError::Template(e.to_string()))?;
            return model
                .apply_chat_template(tmpl, &chat, true)
                .map_err(|e| EngineError::Template(e.to_string()));
        }
        if let Some(env) = &self.jinja {
            let tmpl = env
                .get_template("chat")
                .map_err(|e| EngineError::Template(e.to_string()))?;
            let msgs: Vec<_> = messages
                .iter()
                .map(|m| minijinja::context! { role => m.role.as_str(), content => m.content })
                .collect();
            return tmpl
                .render(minijinja::context! {
                    messages => msgs,
                    add_generation_prompt => true,
                    bos_token => self.bos,
                    eos_token => self.eos,
                })
                .map_err(|e| EngineError::Template(e.to_string()));
        }
        Ok(chatml(messages))
    }
}

/// ChatML: `<|im_start|>role\ncontent<|im_end|>\n` per message, then the assistant's opening.
pub fn chatml(messages: &[ChatMessage]) -> String {
    let mut out = String::new();
    for m in messages {
        out.push_str("<|im_start|>");
        out.push_str(m.role.as_str());
        out.push('\n');
        out.push_str(&m.content);
        out.push_str("<|im_end|>\n");
    }
    out.push_str("<|im_start|>assistant\n");
    out
}

fn piece_of(model: &LlamaModel, token: llama_cpp_2::token::LlamaToken) -> String {
    if token.0 < 0 {
        return String::new();
    }
    String::from_utf8_lossy(&model.vocab().token_to_piece(token, true, None)).into_owned()
}

/// A Jinja environment holding `source` as the template `chat`, with the helpers HF templates use.
fn jinja_env(source: String) -> Result<minijinja::Environment<'static>, minijinja::Error> {
    let mut env = minijinja::Environment::new();
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function(
        "raise_exception",
        |msg: String| -> Result<String, minijinja::Error> {
            Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                msg,
            ))
        },
    );
    env.add_function("strftime_now", |_fmt: String| today());
    env.add_template_owned("chat", source)?;
    Ok(env)
}

/// Today's date as `21 Nov 2026` (the format chat templates ask strftime_now for).
fn today() -> String {
    let format = time::macros::format_description!("[day] [month repr:short] [year]");
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_layout() {
        let msgs = [ChatMessage::system("be brief"), ChatMessage::user("hi")];
        assert_eq!(
            chatml(&msgs),
            "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn jinja_renders_hf_style_templates() {
        let src = "{{ bos_token }}{% for m in messages %}[{{ m.role | upper }}] {{ m.content.strip() }}\n{% endfor %}\
                   {% if add_generation_prompt %}[ASSISTANT]{% endif %}";
        let env = jinja_env(src.to_string()).unwrap();
        let out = env
            .get_template("chat")
            .unwrap()
            .render(minijinja::context! {
                messages => vec![minijinja::context!{ role => "user", content => "  hi  " }],
                add_generation_prompt => true, bos_token => "<s>",
            })
            .unwrap();
        assert_eq!(out, "<s>[USER] hi\n[ASSISTANT]");
    }

    #[test]
    fn raise_exception_is_an_error_not_a_panic() {
        let env = jinja_env("{{ raise_exception('roles must alternate') }}".into()).unwrap();
        let err = env
            .get_template("chat")
            .unwrap()
            .render(minijinja::context! {})
            .unwrap_err();
        assert!(err.to_string().contains("roles must alternate"));
    }

    #[test]
    fn today_is_a_plausible_date() {
        let d = today();
        assert_eq!(d.len(), 11, "{d}");
        assert!(d[7..].parse::<u32>().unwrap() >= 2025);
    }
}
