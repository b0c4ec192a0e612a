//! Syntax highlighting of the raw prompt (chat template markup) and of JSON records:
//! syntect's sets are built once and highlighted lines become ratatui `Text`
//! (gitui `src/ui/syntax_text.rs`). The chat markup has its own small syntax.

use std::sync::OnceLock;

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use syntect::easy::HighlightLines;
use syntect::highlighting::{FontStyle, Theme, ThemeSet};
use syntect::parsing::{SyntaxDefinition, SyntaxSet};
use syntect::util::LinesWithEndings;

/// Chat-template markup: special tokens, roles, the answer tag, bracketed titles,
/// ratings. Templates differ (ChatML, Gemma, Llama 3), so the patterns are generic.
const CHAT_SYNTAX: &str = r#"%YAML 1.2
---
name: Chat prompt
scope: text.chat-prompt
file_extensions: [chatprompt]
contexts:
  main:
    - match: '<\|[A-Za-z0-9_]+\|>|<(start|end)_of_turn>|<bos>|<eos>'
      scope: keyword.control.chat-prompt
    - match: '</?answer>'
      scope: entity.name.tag.chat-prompt
    - match: '^(system|user|assistant|model)$'
      scope: entity.name.function.chat-prompt
    - match: '\[[^\]\n]*\]'
      scope: string.quoted.chat-prompt
    - match: '\(\d+(\.\d+)?\)'
      scope: constant.numeric.chat-prompt
"#;

struct Sets {
    syntaxes: SyntaxSet,
    theme: Theme,
}

fn sets() -> &'static Sets {
    static SETS: OnceLock<Sets> = OnceLock::new();
    SETS.get_or_init(|| {
        let mut builder = SyntaxSet::load_defaults_newlines().into_builder();
        // Invariant: CHAT_SYNTAX is a constant that a test loads; failing here would be
        // a build mistake, and plain text is the safe fallback anyway.
        if let Ok(def) = SyntaxDefinition::load_from_str(CHAT_SYNTAX, true, None) {
            builder.add(def);
        }
        let mut themes = ThemeSet::load_defaults().themes;
        let theme = themes
            .remove("base16-ocean.dark")
            .or_else(|| themes.into_values().next())
            .unwrap_or_default();
        Sets {
            syntaxes: builder.build(),
            theme,
        }
    })
}

fn highlight(text: &str, syntax_name: &str) -> Text<'static> {
    let s = sets();
    let syntax = s
        .syntaxes
        .find_syntax_by_name(syntax_name)
        .unwrap_or_else(|| s.syntaxes.find_syntax_plain_text());
    let mut h = HighlightLines::new(syntax, &s.theme);
    let mut lines = Vec::new();
    for line in LinesWithEndings::from(text) {
        let spans = match h.highlight_line(line, &s.syntaxes) {
            Ok(ranges) => ranges
                .into_iter()
                .map(|(style, piece)| {
                    let mut st = Style::default().fg(Color::Rgb(
                        style.foreground.r,
                        style.foreground.g,
                        style.foreground.b,
                    ));
                    if style.font_style.contains(FontStyle::BOLD) {
                        st = st.add_modifier(Modifier::BOLD);
                    }
                    Span::styled(piece.trim_end_matches(['\n', '\r']).to_string(), st)
                })
                .collect(),
            Err(_) => vec![Span::raw(line.trim_end_matches(['\n', '\r']).to_string())],
        };
        lines.push(Line::from(spans));
    }
    Text::from(lines)
}

/// The rendered prompt, special tokens and roles highlighted.
pub fn chat_prompt(prompt: &str) -> Text<'static> {
    highlight(prompt, "Chat prompt")
}

/// A JSON record.
pub fn json(record: &str) -> Text<'static> {
    highlight(record, "JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_syntax_loads_and_colours_special_tokens() {
        assert!(SyntaxDefinition::load_from_str(CHAT_SYNTAX, true, None).is_ok());
        let t = chat_prompt("<|im_start|>user\nWatched [Heat] (4)<|im_end|>\n");
        assert_eq!(t.lines.len(), 2);
        let first = &t.lines[0].spans;
        assert_eq!(first[0].content, "<|im_start|>");
        let plain: String = t.lines[1]
            .spans
            .iter()
            .map(|s| s.content.as_ref())
            .collect();
        assert_eq!(plain, "Watched [Heat] (4)<|im_end|>");
        // Tokens, titles and plain words get different colours.
        let colours: std::collections::HashSet<_> =
            t.lines[1].spans.iter().map(|s| s.style.fg).collect();
        assert!(colours.len() >= 3, "{:?}", t.lines[1]);
        let j = json("{\"a\": 1}");
        assert!(j.lines[0].spans.len() > 2);
    }
}
