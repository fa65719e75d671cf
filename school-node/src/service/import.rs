//! Importing students from a CSV file, with a report line for every row.
//!
//! The whole file is read and checked before anything is stored: a file that is not UTF-8 CSV
//! with name columns changes nothing. Rows that break a rule are reported and skipped; the others
//! become student accounts.

use std::collections::HashSet;

use super::accounts::{self, PersonalDataInput};
use super::{FieldErrors, Result, ServiceError};
use crate::store::Database;
use crate::store::accounts::Role;

pub const MAX_ROWS: usize = 5000;

/// Why a file as a whole was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileProblem {
    NotUtf8,
    Empty,
    MissingColumns,
    Malformed { line: u64 },
    TooManyRows,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowOutcome {
    Created,
    Rejected(FieldErrors),
    /// The personal code appears on an earlier row of the same file.
    DuplicateInFile,
    WrongFieldCount,
}

#[derive(Debug, Clone)]
pub struct RowReport {
    pub line: u64,
    pub name: String,
    pub outcome: RowOutcome,
}

#[derive(Debug, Default)]
struct Columns {
    first_name: Option<usize>,
    last_name: Option<usize>,
    personal_code: Option<usize>,
    email: Option<usize>,
    phone: Option<usize>,
    address: Option<usize>,
}

fn columns(header: &csv::StringRecord) -> Columns {
    let mut c = Columns::default();
    for (i, name) in header.iter().enumerate() {
        let slot = match shared::names::normalize(name)
            .replace(['-', '_'], "")
            .as_str()
        {
            "firstname" | "eesnimi" => &mut c.first_name,
            "lastname" | "perekonnanimi" | "perenimi" => &mut c.last_name,
            "personalcode" | "isikukood" => &mut c.personal_code,
            "email" | "epost" => &mut c.email,
            "phone" | "telefon" => &mut c.phone,
            "address" | "aadress" => &mut c.address,
            _ => continue,
        };
        slot.get_or_insert(i);
    }
    c
}

fn field(record: &csv::StringRecord, column: Option<usize>) -> String {
    column.and_then(|i| record.get(i)).unwrap_or("").to_owned()
}

/// Parses the file into rows without storing anything.
fn parse(bytes: &[u8]) -> std::result::Result<Vec<(u64, Option<PersonalDataInput>)>, FileProblem> {
    let text = std::str::from_utf8(bytes).map_err(|_| FileProblem::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first_line = text.lines().next().ok_or(FileProblem::Empty)?;
    // Spreadsheets set to Estonian save with semicolons.
    let delimiter = if first_line.contains(';') && !first_line.contains(',') {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|_| FileProblem::Malformed { line: 1 })?
        .clone();
    let cols = columns(&header);
    if cols.first_name.is_none() || cols.last_name.is_none() {
        return Err(FileProblem::MissingColumns);
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| FileProblem::Malformed {
            line: e.position().map_or(0, |p| p.line()),
        })?;
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        if rows.len() == MAX_ROWS {
            return Err(FileProblem::TooManyRows);
        }
        if record.len() != header.len() {
            rows.push((line, None));
            continue;
        }
        rows.push((
            line,
            Some(PersonalDataInput {
                first_name: field(&record, cols.first_name),
                last_name: field(&record, cols.last_name),
                personal_code: field(&record, cols.personal_code),
                email: field(&record, cols.email),
                phone: field(&record, cols.phone),
                address: field(&record, cols.address),
            }),
        ));
    }
    if rows.is_empty() {
        return Err(FileProblem::Empty);
    }
    Ok(rows)
}

/// Imports students; `Err(Ok(problem))` when the file itself is refused.
pub async fn import_students(
    db: &Database,
    bytes: &[u8],
) -> Result<std::result::Result<Vec<RowReport>, FileProblem>> {
    let rows = match parse(bytes) {
        Ok(rows) => rows,
        Err(problem) => return Ok(Err(problem)),
    };
    let mut seen = HashSet::new();
    let mut report = Vec::with_capacity(rows.len());
    for (line, input) in rows {
        let Some(input) = input else {
            report.push(RowReport {
                line,
                name: String::new(),
                outcome: RowOutcome::WrongFieldCount,
            });
            continue;
        };
        let name = format!("{} {}", input.first_name, input.last_name)
            .trim()
            .to_owned();
        let code = input.personal_code.trim().to_owned();
        let outcome = if !code.is_empty() && !seen.insert(code) {
            RowOutcome::DuplicateInFile
        } else {
            match accounts::create(db, &input, &[Role::Student], None).await {
                Ok(_) => RowOutcome::Created,
                Err(ServiceError::Invalid(errors)) => RowOutcome::Rejected(errors),
                Err(e) => return Err(e),
            }
        };
        report.push(RowReport {
            line,
            name,
            outcome,
        });
    }
    Ok(Ok(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_estonian_semicolon_files_with_bom() {
        let rows =
            parse("\u{feff}Eesnimi;Perekonnanimi;Isikukood\nJuku;Tamm;50001010006\n\n".as_bytes())
                .unwrap();
        assert_eq!(rows.len(), 1);
        let input = rows[0].1.as_ref().unwrap();
        assert_eq!(
            (input.first_name.as_str(), input.personal_code.as_str()),
            ("Juku", "50001010006")
        );
    }

    #[test]
    fn refuses_whole_files() {
        assert_eq!(parse(b"\xff\xfe").unwrap_err(), FileProblem::NotUtf8);
        assert_eq!(parse(b"").unwrap_err(), FileProblem::Empty);
        assert_eq!(
            parse(b"name,code\nJuku,1\n").unwrap_err(),
            FileProblem::MissingColumns
        );
        assert_eq!(
            parse(b"first_name,last_name\n").unwrap_err(),
            FileProblem::Empty
        );
    }

    #[test]
    fn short_rows_are_reported_not_guessed() {
        let rows = parse(b"first_name,last_name,email\nJuku,Tamm\n").unwrap();
        assert!(rows[0].1.is_none());
    }

    #[test]
    fn rows_are_checked_like_forms() {
        let e = PersonalDataInput {
            first_name: "J".into(),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.get("last_name"), Some(crate::service::Problem::Required));
    }
}
