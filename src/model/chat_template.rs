//! Chat templates: how a conversation becomes the backbone's input text. We render the
//! two formats our model families use (ChatML for SmolLM2 and Qwen2; Gemma's turns)
//! directly instead of running the Jinja source, and recognise which one a model's
//! template (from GGUF metadata or `tokenizer_config.json`) is.

use std::fmt::Write as _;

/// The stop string that ends a reasoning chain; it is kept in the output and the user
/// vector is read at its last token.
pub const ANSWER_TAG: &str = "<answer>";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatTemplate {
    /// `<|im_start|>role\n...<|im_end|>\n`. SmolLM2's and Qwen2's templates insert a
    /// default system message when the conversation has none.
    ChatMl { default_system: Option<String> },
    /// `<bos><start_of_turn>user\n...<end_of_turn>\n<start_of_turn>model\n`; Gemma has no
    /// system role, so a system message is prepended to the first user turn.
    Gemma,
}

#[derive(Debug, thiserror::Error)]
#[error("unsupported chat template (neither ChatML nor Gemma turns): {excerpt}")]
pub struct UnknownTemplate {
    pub excerpt: String,
}

const SMOLLM2_SYSTEM: &str = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
const QWEN25_SYSTEM: &str = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

impl ChatTemplate {
    /// SmolLM2-Instruct's template.
    pub fn smollm2() -> Self {
        Self::ChatMl {
            default_system: Some(SMOLLM2_SYSTEM.to_string()),
        }
    }

    /// Qwen2.5-Instruct's template.
    pub fn qwen25() -> Self {
        Self::ChatMl {
            default_system: Some(QWEN25_SYSTEM.to_string()),
        }
    }

    /// Recognise a Jinja chat template's format, and the default system message it
    /// inserts (the first quoted message after `<|im_start|>system`).
    pub fn from_jinja(source: &str) -> Result<Self, UnknownTemplate> {
        if source.contains("<start_of_turn>") {
            return Ok(Self::Gemma);
        }
        if source.contains("<|im_start|>") {
            return Ok(Self::ChatMl {
                default_system: default_system_of(source),
            });
        }
        let excerpt: String = source.chars().take(80).collect();
        Err(UnknownTemplate { excerpt })
    }

    /// The text that ends a turn; generation treats it as end of sequence.
    pub fn end_of_turn(&self) -> &'static str {
        match self {
            Self::ChatMl { .. } => "<|im_end|>",
            Self::Gemma => "<end_of_turn>",
        }
    }

    /// Render a conversation; with `add_generation_prompt` an assistant turn is opened.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> String {
        let mut out = self.render_turns(messages);
        if add_generation_prompt {
            out.push_str(self.assistant_header());
        }
        out
    }

    /// Render a conversation and open an assistant turn pre-filled with `prefill`,
    /// left open (no end-of-turn): the item prompt of SPEC §2 pre-fills `<answer>`.
    pub fn render_prefilled(&self, messages: &[Message], prefill: &str) -> String {
        let mut out = self.render(messages, true);
        out.push_str(prefill);
        out
    }

    fn assistant_header(&self) -> &'static str {
        match self {
            Self::ChatMl { .. } => "<|im_start|>assistant\n",
            Self::Gemma => "<start_of_turn>model\n",
        }
    }

    fn render_turns(&self, messages: &[Message]) -> String {
        let mut out = String::new();
        match self {
            Self::ChatMl { default_system } => {
                let has_system = messages.first().is_some_and(|m| m.role == Role::System);
                if let (false, Some(sys)) = (has_system, default_system) {
                    let _ = write!(out, "<|im_start|>system\n{sys}<|im_end|>\n");
                }
                for m in messages {
                    let role = match m.role {
                        Role::System => "system",
                        Role::User => "user",
                        Role::Assistant => "assistant",
                    };
                    let _ = write!(out, "<|im_start|>{role}\n{}<|im_end|>\n", m.content);
                }
            }
            Self::Gemma => {
                out.push_str("<bos>");
                let mut pending_system: Option<&str> = None;
                for m in messages {
                    match m.role {
                        Role::System => pending_system = Some(&m.content),
                        Role::User => {
                            out.push_str("<start_of_turn>user\n");
                            if let Some(sys) = pending_system.take() {
                                let _ = write!(out, "{sys}\n\n");
                            }
                            let _ = writeln!(out, "{}<end_of_turn>", m.content.trim());
                        }
                        Role::Assistant => {
                            let _ = write!(
                                out,
                                "<start_of_turn>model\n{}<end_of_turn>\n",
                                m.content.trim()
                            );
                        }
                    }
                }
            }
        }
        out
    }
}

/// The default system message a ChatML Jinja template inserts, if any: the first
/// system header followed by a literal message. Qwen2.5's template opens a system turn
/// for tool use before its plain default, so every header is tried in turn.
fn default_system_of(source: &str) -> Option<String> {
    const HEADERS: [&str; 2] = ["<|im_start|>system\\n", "<|im_start|>system\n"];
    HEADERS.iter().find_map(|header| {
        source
            .match_indices(header)
            .find_map(|(at, _)| literal_message(&source[at + header.len()..]))
    })
}

/// The message up to `<|im_end|>`, unless it is a Jinja expression
/// (`' + message['content'] + '`) rather than a literal.
fn literal_message(after_header: &str) -> Option<String> {
    let msg = &after_header[..after_header.find("<|im_end|>")?];
    if msg.is_empty() || msg.contains('\'') || msg.contains("{{") || msg.contains('+') {
        return None;
    }
    Some(msg.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_inserts_default_system_and_opens_assistant() {
        let t = ChatTemplate::smollm2();
        let s = t.render(&[Message::user("Hi")], true);
        assert_eq!(
            s,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
             <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let s = t.render(&[Message::system("S"), Message::user("Hi")], false);
        assert_eq!(
            s,
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        );
    }

    #[test]
    fn prefilled_assistant_turn_is_left_open() {
        let t = ChatTemplate::ChatMl {
            default_system: None,
        };
        let s = t.render_prefilled(&[Message::user("Q")], "<answer>");
        assert_eq!(
            s,
            "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<answer>"
        );
        let g = ChatTemplate::Gemma.render_prefilled(&[Message::user("Q")], "<answer>");
        assert_eq!(
            g,
            "<bos><start_of_turn>user\nQ<end_of_turn>\n<start_of_turn>model\n<answer>"
        );
    }

    #[test]
    fn gemma_folds_system_into_first_user_turn() {
        let g = ChatTemplate::Gemma.render(&[Message::system("S"), Message::user("Q")], true);
        assert_eq!(
            g,
            "<bos><start_of_turn>user\nS\n\nQ<end_of_turn>\n<start_of_turn>model\n"
        );
    }

    #[test]
    fn recognises_jinja_sources() {
        let smol = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}";
        assert_eq!(
            ChatTemplate::from_jinja(smol).unwrap(),
            ChatTemplate::smollm2()
        );
        let gemma = "{{ bos_token }}{% for message in messages %}<start_of_turn>{{ role }}";
        assert_eq!(
            ChatTemplate::from_jinja(gemma).unwrap(),
            ChatTemplate::Gemma
        );
        assert!(ChatTemplate::from_jinja("[INST] {{ x }} [/INST]").is_err());
        // Qwen2.5's template opens a tool-use system turn before its plain default.
        let qwen = "{%- if tools %}{{- '<|im_start|>system\\n' }}{%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] }}{%- else %}{{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}{%- endif %}{{- \"\\n\\n# Tools<|im_end|>\\n\" }}{%- else %}{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}{%- endif %}{%- endif %}";
        assert_eq!(
            ChatTemplate::from_jinja(qwen).unwrap(),
            ChatTemplate::qwen25()
        );
    }
}
