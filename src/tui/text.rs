//! Text measured as a terminal shows it: display width (a CJK character takes two
//! cells, a combining mark none), cutting and padding to a width without breaking a
//! column, cutting status lines at a word boundary, the plural of a count, and the
//! mark for catalogue items whose title is a placeholder rather than a real title.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Cells `s` takes on a terminal.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` cut to at most `max` cells, ending with `…` when cut.
pub fn cut(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        // One cell stays free for the ellipsis.
        if w + cw > max - 1 {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

/// `s` cut to at most `max` cells in the middle, keeping its start and its end, which
/// tell similar names apart (`r2ec-smol…ml100k-cpu`, `r2ec-smol…-ml1m-cpu`).
pub fn cut_middle(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max < 3 {
        return cut(s, max);
    }
    let keep = max - 1;
    let (head_w, tail_w) = (keep - keep / 2, keep / 2);
    let mut head = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw > head_w {
            break;
        }
        head.push(c);
        w += cw;
    }
    let mut tail: Vec<char> = Vec::new();
    let mut w = 0;
    for c in s.chars().rev() {
        let cw = c.width().unwrap_or(0);
        if w + cw > tail_w {
            break;
        }
        tail.push(c);
        w += cw;
    }
    tail.reverse();
    format!("{head}…{}", tail.into_iter().collect::<String>())
}

/// `s` cut to `cells` and padded with spaces to exactly `cells` cells, so the next
/// column starts at the same place whatever the script.
pub fn pad(s: &str, cells: usize) -> String {
    let mut out = cut(s, cells);
    let w = width(&out);
    out.extend(std::iter::repeat_n(' ', cells.saturating_sub(w)));
    out
}

/// `s` cut to at most `max` cells at a word boundary (never inside a word), with `…`
/// when cut. A first word longer than `max` is cut by cells, since nothing else fits.
pub fn cut_words(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    for word in s.split(' ') {
        let sep = usize::from(!out.is_empty());
        if width(&out) + sep + width(word) + 1 > max {
            break;
        }
        if sep == 1 {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_empty() {
        return cut(s, max);
    }
    // A word cut off after punctuation reads better without it (`saved,…`).
    let trimmed = out.trim_end_matches([',', ';', ':', '·', ' ']).len();
    out.truncate(trimmed);
    out.push('…');
    out
}

/// "1 tag", "2 tags".
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Titles that stand for "no title": MovieLens-100k item 267 is `unkonwn` (the data
/// set's own typo for an unknown title); other catalogues use the usual words.
const PLACEHOLDERS: [&str; 9] = [
    "unknown", "unkonwn", "untitled", "no title", "n/a", "na", "none", "null", "?",
];

/// Whether an item's title is a placeholder rather than a real title. Such an item is
/// still a catalogue item that users rated, so it stays in rankings; its vector comes
/// from a word that says nothing about the item, which is why it is marked.
pub fn no_real_title(title: &str) -> bool {
    let t = title.trim().to_lowercase();
    t.is_empty() || PLACEHOLDERS.contains(&t.as_str())
}

/// The mark put after a title with no real title.
pub const NO_TITLE_MARK: &str = " ⚠no title";

/// A title as the data has it, marked when it is a placeholder.
pub fn shown_title(title: &str) -> String {
    if no_real_title(title) {
        format!("{title}{NO_TITLE_MARK}")
    } else {
        title.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_characters_take_two_cells_and_padding_keeps_columns() {
        assert_eq!(width("千と千尋"), 8);
        assert_eq!(cut("千と千尋の神隠し", 7), "千と千…");
        assert_eq!(width(&cut("千と千尋の神隠し", 7)), 7);
        // An odd width cannot hold half a wide character: one cell stays blank.
        assert_eq!(pad("千と千尋の神隠し", 6), "千と… ");
        assert_eq!(width(&pad("千と千尋の神隠し", 6)), 6);
        assert_eq!(pad("Heat", 6), "Heat  ");
        assert_eq!(cut("Heat", 4), "Heat");
        assert_eq!(cut("Heat", 0), "");
        assert_eq!(
            cut_middle("r2ec-smollm2-135m-ml100k-cpu", 17),
            "r2ec-smo…100k-cpu"
        );
        assert_eq!(width(&cut_middle("r2ec-smollm2-135m-ml100k-cpu", 17)), 17);
        assert_eq!(cut_middle("Heat", 17), "Heat");
    }

    #[test]
    fn status_lines_are_cut_between_words() {
        assert_eq!(cut_words("saved live-1 to sessions", 14), "saved live-1…");
        assert_eq!(
            cut_words("done: target ranked 3", 40),
            "done: target ranked 3"
        );
        assert_eq!(cut_words("done: target ranked 3", 8), "done…");
        assert_eq!(cut_words("supercalifragilistic", 6), "super…");
    }

    #[test]
    fn plurals_and_placeholder_titles() {
        assert_eq!(plural(1, "tag", "tags"), "1 tag");
        assert_eq!(plural(0, "tag", "tags"), "0 tags");
        assert!(no_real_title("unkonwn"));
        assert!(no_real_title(" Unknown "));
        assert!(no_real_title(""));
        assert!(!no_real_title("Good Morning"));
        assert!(!no_real_title("Unknown Soldier, The"));
        assert_eq!(shown_title("unkonwn"), "unkonwn ⚠no title");
        assert_eq!(shown_title("Heat"), "Heat");
    }
}
