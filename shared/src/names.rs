//! Name and username normalisation: how a typed name is compared with a stored one.
//!
//! People type "Mari Maasikas", "marimaasikas" or "MARI maasikas"; all three must find the same
//! account. Estonian letters are letters of their own ("Õun" is not "Oun"), so nothing is folded
//! to ASCII: text is put in Unicode NFC form, lower-cased, and white space is dropped.

use unicode_normalization::UnicodeNormalization;

/// Whether typed text holds a control character (NUL among them) that no field accepts: every
/// one but the line breaks and tabs of multi-line text. Such input is refused before it
/// reaches the database (PostgreSQL refuses NUL in text outright).
pub fn has_forbidden_control(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// The lookup key of a username or a name: NFC, lower case, no white space.
pub fn normalize(input: &str) -> String {
    input
        .nfc()
        .flat_map(char::to_lowercase)
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// The key under which an account is found by its first and last name.
pub fn name_key(first_name: &str, last_name: &str) -> String {
    let mut key = normalize(first_name);
    key.push_str(&normalize(last_name));
    key
}

/// Whether two names are the same name after normalisation.
pub fn same_name(a: &str, b: &str) -> bool {
    normalize(a) == normalize(b)
}

/// Of two spellings of one name, the one written as names are: "Anna" rather than "ANNA" or
/// "anna". The first when both are alike.
pub fn better_spelling<'a>(a: &'a str, b: &'a str) -> &'a str {
    let written = |s: &str| s.chars().any(char::is_uppercase) && s.chars().any(char::is_lowercase);
    if !written(a) && written(b) { b } else { a }
}

/// A display name tidied for storage: NFC, inner runs of white space made one space.
pub fn tidy(input: &str) -> String {
    input
        .nfc()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_but_line_breaks_are_forbidden() {
        assert!(has_forbidden_control("Mari\0"));
        assert!(has_forbidden_control("a\u{1b}[31m"));
        assert!(has_forbidden_control("\u{85}"));
        assert!(!has_forbidden_control("Riia 2\nTartu\t"));
        assert!(!has_forbidden_control("Õie Ülle-Žanna 🙂"));
    }

    #[test]
    fn the_better_written_spelling_wins() {
        assert_eq!(better_spelling("ANNA", "Anna"), "Anna");
        assert_eq!(better_spelling("Anna", "anna"), "Anna");
        assert_eq!(better_spelling("Mari-Liis", "Mari-liis"), "Mari-Liis");
        assert_eq!(better_spelling("anna", "ANNA"), "anna");
    }

    #[test]
    fn spacing_and_case_do_not_matter() {
        let key = name_key("Mari", "Maasikas");
        for typed in [
            "Mari Maasikas",
            "marimaasikas",
            "MARI maasikas",
            "  mari   MAASIKAS ",
        ] {
            assert_eq!(normalize(typed), key, "{typed}");
        }
    }

    #[test]
    fn estonian_letters_survive() {
        assert_eq!(
            normalize("ÕUN Äär Öö Üle Šokk Žürii"),
            "õunäärööülešokkžürii"
        );
        assert!(!same_name("Õun", "Oun"));
        assert!(!same_name("Mägi", "Magi"));
        assert!(same_name("JÜRI", "jüri"));
    }

    #[test]
    fn composed_and_decomposed_letters_are_one_letter() {
        let decomposed = "O\u{303}un"; // O + combining tilde
        assert!(same_name(decomposed, "Õun"));
        assert_eq!(normalize(decomposed).chars().count(), 3);
    }

    #[test]
    fn tidy_keeps_case_and_joins_spaces() {
        assert_eq!(tidy("  Mari   Liis "), "Mari Liis");
    }
}
