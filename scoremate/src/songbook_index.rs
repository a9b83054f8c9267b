//! A songbook's index as CSV, the way forScore exports and MobileSheets imports them: a
//! header row naming the columns, then one piece per row. Read into bookmarks, each with
//! the line it came from so that every bad row can be named (docs/bookmarks.md, "Import").
//!
//! Accepted: UTF-8 with or without a byte-order mark; comma, semicolon or tab between
//! fields (whichever the header row uses most); fields quoted as RFC 4180 says. Columns,
//! matched ignoring case, spaces and underscores, in any order: `Title` (or `Name`),
//! `Start` (`Start Page`, `First Page`, `Page`), `End` (`End Page`, `Last Page`; empty
//! means the start page), `Composer` (`Artist`, `Author`), `Book`, `Tags` (`Keywords`;
//! separated by commas or semicolons), `Key`. Other columns are ignored.

use aggregates::score::line_label;
use aggregates::{Bookmark, FieldErrors, MAX_BOOKMARKS, MAX_PAGE};

/// Which rows to take and where their pages are.
#[derive(Debug, Clone, Copy, Default)]
pub struct IndexOptions<'a> {
    /// Only the rows whose `Book` is this (ignoring case); all rows when absent.
    pub book: Option<&'a str>,
    /// Added to every page of the file's index (an index of printed page numbers whose
    /// PDF starts with a cover and front matter takes a positive offset).
    pub offset: i64,
}

/// A row read as a bookmark, and its line in the file (1-based, the header being 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRow {
    pub line: u64,
    pub bookmark: Bookmark,
}

/// What a file holds: the rows that could be read, and what is wrong with the others
/// (keyed `line N`).
#[derive(Debug, Default)]
pub struct ParsedIndex {
    pub rows: Vec<IndexRow>,
    pub errors: FieldErrors,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Title,
    Start,
    End,
    Composer,
    Book,
    Tags,
    Key,
}

impl Column {
    fn named(header: &str) -> Option<Self> {
        let name: String = header
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect();
        Some(match name.as_str() {
            "title" | "name" => Self::Title,
            "start" | "startpage" | "firstpage" | "page" => Self::Start,
            "end" | "endpage" | "lastpage" => Self::End,
            "composer" | "artist" | "author" => Self::Composer,
            "book" => Self::Book,
            "tags" | "keywords" => Self::Tags,
            "key" => Self::Key,
            _ => return None,
        })
    }
}

/// The column numbers of the header's known columns.
#[derive(Debug, Default)]
struct Layout {
    columns: Vec<(Column, usize, String)>,
}

impl Layout {
    fn of(header: &csv::StringRecord, errors: &mut FieldErrors) -> Self {
        let mut layout = Self::default();
        for (index, name) in header.iter().enumerate() {
            let Some(column) = Column::named(name) else {
                continue;
            };
            if layout.index(column).is_some() {
                errors.add(
                    &line_label(1),
                    format!("The column {name:?} appears twice."),
                );
            } else {
                layout.columns.push((column, index, name.trim().to_owned()));
            }
        }
        for (column, name) in [(Column::Title, "Title"), (Column::Start, "Start")] {
            if layout.index(column).is_none() {
                errors.add(&line_label(1), format!("A {name} column is required."));
            }
        }
        layout
    }

    fn index(&self, column: Column) -> Option<usize> {
        self.columns
            .iter()
            .find(|(known, _, _)| *known == column)
            .map(|(_, index, _)| *index)
    }

    /// The column's header as the file spells it, for messages.
    fn name(&self, column: Column) -> &str {
        self.columns
            .iter()
            .find(|(known, _, _)| *known == column)
            .map_or("", |(_, _, name)| name.as_str())
    }

    fn cell<'r>(&self, record: &'r csv::StringRecord, column: Column) -> Option<&'r str> {
        self.index(column)
            .and_then(|index| record.get(index))
            .map(str::trim)
            .filter(|cell| !cell.is_empty())
    }
}

/// Reads `bytes` as a songbook index. Never fails as a whole: a file that cannot be read
/// at all is one error on the line where reading stopped.
#[must_use]
pub fn parse(bytes: &[u8], options: IndexOptions<'_>) -> ParsedIndex {
    let mut parsed = ParsedIndex::default();
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let line = line_of(bytes, error.valid_up_to());
            parsed.errors.add(
                &line_label(line),
                "The file must be UTF-8 text (save it as \"CSV UTF-8\").",
            );
            return parsed;
        }
    };
    if let Some(at) = text.find('\0') {
        parsed.errors.add(
            &line_label(line_of(bytes, at)),
            "Must not contain NUL characters.",
        );
        return parsed;
    }
    let header_line = text.lines().find(|line| !line.trim().is_empty());
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(header_line.unwrap_or_default()))
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        Some(Ok(header)) => header,
        Some(Err(error)) => {
            parsed.errors.add(&line_label(1), unreadable(&error));
            return parsed;
        }
        None => {
            parsed.errors.add(&line_label(1), "The file is empty.");
            return parsed;
        }
    };
    let layout = Layout::of(&header, &mut parsed.errors);
    if !parsed.errors.is_empty() {
        return parsed;
    }
    let book = options.book.map(str::trim).map(projections::fold);
    if book.is_some() && layout.index(Column::Book).is_none() {
        parsed.errors.add(
            &line_label(1),
            "A Book column is required to import one book of the index.",
        );
        return parsed;
    }
    let mut lines = Lines::new(text);
    let mut taken = 0_usize;
    for record in records {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let line = lines.at(error.position().map_or(0, csv::Position::byte));
                parsed.errors.add(&line_label(line), unreadable(&error));
                return parsed;
            }
        };
        let line = lines.at(record.position().map_or(0, csv::Position::byte));
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        if let Some(book) = &book
            && layout
                .cell(&record, Column::Book)
                .map(projections::fold)
                .as_ref()
                != Some(book)
        {
            continue;
        }
        taken += 1;
        if taken > MAX_BOOKMARKS {
            parsed.errors.add(
                &line_label(line),
                format!("A score holds at most {MAX_BOOKMARKS} bookmarks."),
            );
            return parsed;
        }
        match read_row(&layout, &record, options.offset) {
            Ok(bookmark) => parsed.rows.push(IndexRow { line, bookmark }),
            Err(messages) => {
                for message in messages {
                    parsed.errors.add(&line_label(line), message);
                }
            }
        }
    }
    if parsed.rows.is_empty() && parsed.errors.is_empty() {
        parsed
            .errors
            .add(&line_label(1), "The file has no rows to import.");
    }
    parsed
}

/// One row as a bookmark (its rules are checked later, with the page count).
fn read_row(
    layout: &Layout,
    record: &csv::StringRecord,
    offset: i64,
) -> Result<Bookmark, Vec<String>> {
    let mut problems = Vec::new();
    let mut page = |column: Column, required: bool| -> Option<u32> {
        let name = layout.name(column);
        let Some(cell) = layout.cell(record, column) else {
            if required {
                problems.push(format!("{name}: a page number is required."));
            }
            return None;
        };
        let Some(page) = cell
            .parse::<i64>()
            .ok()
            .map(|page| page.saturating_add(offset))
        else {
            problems.push(format!("{name}: {cell:?} is not a page number."));
            return None;
        };
        // Out of range here still reaches the bookmark rules, which name the range.
        Some(u32::try_from(page.clamp(0, i64::from(MAX_PAGE) + 1)).unwrap_or(0))
    };
    let start_page = page(Column::Start, true);
    let end_page = page(Column::End, false);
    let title = layout.cell(record, Column::Title).unwrap_or_default();
    let text = |column| layout.cell(record, column).map(str::to_owned);
    let tags = layout
        .cell(record, Column::Tags)
        .map(|cell| {
            cell.split([',', ';'])
                .map(str::trim)
                .filter(|tag| !tag.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let Some(start_page) = start_page else {
        return Err(problems);
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Bookmark {
        title: title.to_owned(),
        composer: text(Column::Composer),
        start_page,
        end_page: end_page.unwrap_or(start_page),
        tags,
        key: text(Column::Key),
        notes: None,
    })
}

/// The separator the header uses most: comma, semicolon or tab.
fn delimiter(header: &str) -> u8 {
    [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|separator| {
            // A tie goes to the comma: a one-column header is comma-separated.
            let count = header.bytes().filter(|byte| byte == separator).count();
            (count, *separator == b',')
        })
        .unwrap_or(b',')
}

fn unreadable(error: &csv::Error) -> String {
    format!("The file cannot be read as CSV here: {error}.")
}

/// Line numbers of byte offsets met in increasing order (csv's own line count skips blank
/// lines, which a person counting in an editor does not).
struct Lines<'t> {
    text: &'t [u8],
    offset: usize,
    line: u64,
}

impl<'t> Lines<'t> {
    fn new(text: &'t str) -> Self {
        Self {
            text: text.as_bytes(),
            offset: 0,
            line: 1,
        }
    }

    /// The 1-based line of the record starting at byte `at`, at or after the last one
    /// asked for. csv starts a record after blank lines where the blank lines start.
    fn at(&mut self, at: u64) -> u64 {
        let mut at = usize::try_from(at)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        while matches!(self.text.get(at), Some(b'\r' | b'\n')) {
            at += 1;
        }
        if at > self.offset {
            let newlines = self.text[self.offset..at]
                .iter()
                .filter(|byte| **byte == b'\n')
                .count();
            self.line += u64::try_from(newlines).unwrap_or(u64::MAX);
            self.offset = at;
        }
        self.line
    }
}

/// The 1-based line of byte `at`.
fn line_of(bytes: &[u8], at: usize) -> u64 {
    let before = bytes.get(..at).unwrap_or(bytes);
    u64::try_from(before.iter().filter(|byte| **byte == b'\n').count()).unwrap_or(u64::MAX) + 1
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn read(text: &str) -> ParsedIndex {
        parse(text.as_bytes(), IndexOptions::default())
    }

    fn titles(parsed: &ParsedIndex) -> Vec<(u64, &str, u32, u32)> {
        parsed
            .rows
            .iter()
            .map(|row| {
                (
                    row.line,
                    row.bookmark.title.as_str(),
                    row.bookmark.start_page,
                    row.bookmark.end_page,
                )
            })
            .collect()
    }

    fn errors(parsed: ParsedIndex) -> Vec<(String, Vec<String>)> {
        parsed.errors.into_inner().into_iter().collect()
    }

    #[test]
    fn columns_are_found_by_name_in_any_order_and_case() {
        let parsed = read(
            "\u{feff}key;END page;Title;start;Composer;Tags;Rating\n\
             F;2;Autumn Leaves;1;Joseph Kosma;ballad, standard;5\n\
             ;;Blue Bossa;3;;;\n",
        );
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(
            titles(&parsed),
            [(2, "Autumn Leaves", 1, 2), (3, "Blue Bossa", 3, 3)]
        );
        let autumn = &parsed.rows[0].bookmark;
        assert_eq!(autumn.composer.as_deref(), Some("Joseph Kosma"));
        assert_eq!(autumn.key.as_deref(), Some("F"));
        assert_eq!(autumn.tags, ["ballad", "standard"]);
        assert_eq!(parsed.rows[1].bookmark.composer, None);
    }

    #[test]
    fn quoted_fields_tabs_and_blank_lines_are_read() {
        let parsed = read(
            "Title\tStart\tEnd\n\n\"Solar, take 2\"\t5\t6\r\n\"Say \"\"when\"\"\"\t7\t\n\t\t\n",
        );
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(
            titles(&parsed),
            [(3, "Solar, take 2", 5, 6), (4, "Say \"when\"", 7, 7)]
        );
        let parsed = read("Name,Page\n\"Two\nlines\",4\nNext,5\n");
        assert_eq!(
            titles(&parsed),
            [(2, "Two\nlines", 4, 4), (4, "Next", 5, 5)],
            "a row's line is where it starts"
        );
    }

    #[test]
    fn every_bad_row_is_named_by_its_line() {
        let parsed = read("Title,Start,End\nFine,1,2\nBad,x,2\n,3,\nWorse,,y\n");
        assert_eq!(titles(&parsed), [(2, "Fine", 1, 2), (4, "", 3, 3)]);
        assert_eq!(
            errors(parsed),
            [
                (
                    "line 3".to_owned(),
                    vec!["Start: \"x\" is not a page number.".to_owned()]
                ),
                (
                    "line 5".to_owned(),
                    vec![
                        "Start: a page number is required.".to_owned(),
                        "End: \"y\" is not a page number.".to_owned()
                    ]
                ),
            ]
        );
    }

    #[test]
    fn a_header_without_title_or_start_is_refused() {
        assert_eq!(
            errors(read("Name of piece,End\nA,1\n")),
            [(
                "line 1".to_owned(),
                vec![
                    "A Title column is required.".to_owned(),
                    "A Start column is required.".to_owned()
                ]
            )]
        );
        assert_eq!(
            errors(read("Title,Title,Start\n")),
            [(
                "line 1".to_owned(),
                vec!["The column \"Title\" appears twice.".to_owned()]
            )]
        );
        assert_eq!(
            errors(read("Title,Start\n")),
            [(
                "line 1".to_owned(),
                vec!["The file has no rows to import.".to_owned()]
            )]
        );
        assert_eq!(
            errors(read("")),
            [("line 1".to_owned(), vec!["The file is empty.".to_owned()])]
        );
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_at_its_line() {
        let parsed = parse(b"Title,Start\nCaf\xE9,1\n", IndexOptions::default());
        assert_eq!(
            errors(parsed),
            [(
                "line 2".to_owned(),
                vec!["The file must be UTF-8 text (save it as \"CSV UTF-8\").".to_owned()]
            )]
        );
        let parsed = parse(b"Title,Start\nA\0,1\n", IndexOptions::default());
        assert_eq!(parsed.errors.into_inner().len(), 1);
    }

    #[test]
    fn one_book_of_an_index_and_an_offset_may_be_chosen() {
        let text = "Title,Book,Page\nA,Real Book 1,10\nB,Real Book 2,10\nC,real book 1,12\n";
        let parsed = parse(
            text.as_bytes(),
            IndexOptions {
                book: Some(" REAL BOOK 1"),
                offset: 3,
            },
        );
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(titles(&parsed), [(2, "A", 13, 13), (4, "C", 15, 15)]);
        let without_column = parse(
            b"Title,Page\nA,1\n",
            IndexOptions {
                book: Some("x"),
                offset: 0,
            },
        );
        assert_eq!(without_column.errors.into_inner().len(), 1);
    }

    #[test]
    fn pages_out_of_range_are_left_to_the_bookmark_rules() {
        let parsed = parse(
            b"Title,Start,End\nA,-15,9223372036854775807\n",
            IndexOptions {
                book: None,
                offset: 10,
            },
        );
        assert!(parsed.errors.is_empty());
        assert_eq!(titles(&parsed), [(2, "A", 0, MAX_PAGE + 1)]);
    }

    #[test]
    fn more_rows_than_a_score_holds_stop_the_reading() {
        let mut text = String::from("Title,Start\n");
        for n in 0..=MAX_BOOKMARKS {
            text.push_str(&format!("Piece {n},1\n"));
        }
        let parsed = read(&text);
        let errors = errors(parsed);
        assert_eq!(
            errors,
            [(
                format!("line {}", MAX_BOOKMARKS + 2),
                vec![format!("A score holds at most {MAX_BOOKMARKS} bookmarks.")]
            )]
        );
    }

    #[test]
    fn the_separator_is_the_one_the_header_uses_most() {
        assert_eq!(delimiter("Title;Start;End"), b';');
        assert_eq!(delimiter("Title\tStart"), b'\t');
        assert_eq!(delimiter("Title,Start"), b',');
        assert_eq!(delimiter("Title"), b',');
    }
}
