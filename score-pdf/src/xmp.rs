//! XMP metadata, the XML packet of the catalog's `/Metadata` stream: the Dublin Core
//! title, creators and subjects that editors (Acrobat, MuseScore, Sibelius, Dorico) write
//! beside — and often instead of — the Info dictionary. Read by namespace, not by prefix;
//! anything unreadable is simply absent, never a failure of the file.

use lopdf::{Document, Object};
use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use serde::{Deserialize, Serialize};

use crate::text::clean;

/// The largest metadata packet read, decompressed: real ones are a few KiB.
const MAX_XMP_BYTES: usize = 1024 * 1024;
/// Items kept per property, and the nesting the reader follows: hostile packets are cut
/// short rather than read whole.
const MAX_ITEMS: usize = 50;
const MAX_DEPTH: usize = 64;

const DC: &[u8] = b"http://purl.org/dc/elements/1.1/";
const RDF: &[u8] = b"http://www.w3.org/1999/02/22-rdf-syntax-ns#";

/// What the packet says about the work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Xmp {
    /// `dc:title`: the `x-default` alternative, else the first.
    pub title: Option<String>,
    /// `dc:creator`, in order.
    pub creators: Vec<String>,
    /// `dc:subject`: keywords.
    pub subjects: Vec<String>,
}

impl Xmp {
    fn is_empty(&self) -> bool {
        self.title.is_none() && self.creators.is_empty() && self.subjects.is_empty()
    }
}

/// The document's XMP, when it has a readable packet saying anything.
pub(crate) fn read(doc: &Document) -> Option<Xmp> {
    let catalog = doc.catalog().ok()?;
    let (_, metadata) = doc.dereference(catalog.get(b"Metadata").ok()?).ok()?;
    let Object::Stream(stream) = metadata else {
        return None;
    };
    let bytes = if stream.dict.has(b"Filter") {
        stream.decompressed_content_with_limit(MAX_XMP_BYTES).ok()?
    } else {
        stream.content.clone()
    };
    if bytes.len() > MAX_XMP_BYTES {
        return None;
    }
    parse(&bytes)
}

/// Which Dublin Core property the reader is inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Property {
    Title,
    Creator,
    Subject,
}

/// The packet's Dublin Core facts, or `None` when it is not XML the reader can follow or
/// says nothing of them.
pub fn parse(bytes: &[u8]) -> Option<Xmp> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).ok()?;
    let mut reader = NsReader::from_str(text);
    let mut xmp = Xmp::default();
    let mut titles: Vec<(bool, String)> = Vec::new();
    let mut depth = 0_usize;
    // The property being read and the depth it opened at; the item being read and
    // whether it is the default language.
    let mut property: Option<(Property, usize)> = None;
    let mut item: Option<(bool, String)> = None;
    loop {
        let (namespace, event) = reader.read_resolved_event().ok()?;
        let in_ns =
            |uri: &[u8]| matches!(namespace, ResolveResult::Bound(Namespace(ns)) if ns == uri);
        match event {
            Event::Start(start) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return None;
                }
                let name = start.local_name();
                if property.is_none() && in_ns(DC) {
                    property = match name.as_ref() {
                        b"title" => Some((Property::Title, depth)),
                        b"creator" => Some((Property::Creator, depth)),
                        b"subject" => Some((Property::Subject, depth)),
                        _ => None,
                    };
                } else if property.is_some() && in_ns(RDF) && name.as_ref() == b"li" {
                    let default = start.attributes().flatten().any(|attribute| {
                        attribute.key.local_name().as_ref() == b"lang"
                            && attribute.value.as_ref() == b"x-default"
                    });
                    item = Some((default, String::new()));
                }
            }
            Event::End(_) => {
                if let (Some((kind, _)), Some((default, text))) = (property, item.take()) {
                    if let Some(text) = clean(&text) {
                        match kind {
                            Property::Title => titles.push((default, text)),
                            Property::Creator => xmp.creators.push(text),
                            Property::Subject => xmp.subjects.push(text),
                        }
                    }
                    if titles.len() + xmp.creators.len() + xmp.subjects.len() > 3 * MAX_ITEMS {
                        break;
                    }
                }
                if property.is_some_and(|(_, opened)| opened == depth) {
                    property = None;
                }
                depth = depth.saturating_sub(1);
            }
            Event::Text(content) => {
                if let Some((_, text)) = &mut item {
                    text.push_str(&content.xml10_content().ok()?);
                }
            }
            Event::CData(content) => {
                if let Some((_, text)) = &mut item {
                    text.push_str(&content.xml10_content().ok()?);
                }
            }
            Event::GeneralRef(reference) => {
                if let Some((_, text)) = &mut item {
                    let resolved = match reference.resolve_char_ref().ok()? {
                        Some(character) => character.to_string(),
                        None => {
                            let name = reference.decode().ok()?;
                            quick_xml::escape::resolve_predefined_entity(&name)?.to_owned()
                        }
                    };
                    text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    xmp.title = titles
        .iter()
        .find(|(default, _)| *default)
        .or_else(|| titles.first())
        .map(|(_, title)| title.clone());
    xmp.creators.truncate(MAX_ITEMS);
    xmp.subjects.truncate(MAX_ITEMS);
    (!xmp.is_empty()).then_some(xmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(body: &str) -> String {
        format!(
            r#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">{body}</rdf:Description>
</rdf:RDF></x:xmpmeta><?xpacket end="w"?>"#
        )
    }

    #[test]
    fn dublin_core_title_creators_and_subjects_are_read() {
        let xmp = parse(
            packet(
                r#"<dc:title><rdf:Alt><rdf:li xml:lang="de">Herbstlaub</rdf:li>
                   <rdf:li xml:lang="x-default"> Autumn Leaves &amp; more </rdf:li></rdf:Alt></dc:title>
                   <dc:creator><rdf:Seq><rdf:li>Joseph Kosma</rdf:li><rdf:li>Jacques Pr&#233;vert</rdf:li></rdf:Seq></dc:creator>
                   <dc:subject><rdf:Bag><rdf:li>jazz</rdf:li><rdf:li><![CDATA[ballad]]></rdf:li></rdf:Bag></dc:subject>
                   <pdf:Title xmlns:pdf="http://ns.adobe.com/pdf/1.3/">Not this</pdf:Title>"#,
            )
            .as_bytes(),
        );
        assert_eq!(
            xmp,
            Some(Xmp {
                title: Some("Autumn Leaves & more".to_owned()),
                creators: vec!["Joseph Kosma".to_owned(), "Jacques Prévert".to_owned()],
                subjects: vec!["jazz".to_owned(), "ballad".to_owned()],
            })
        );
    }

    #[test]
    fn the_namespace_decides_not_the_prefix() {
        let xmp = parse(
            br#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><r:RDF xmlns:r="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<r:Description xmlns:d="http://purl.org/dc/elements/1.1/" xmlns:dc="urn:not-dublin-core">
<dc:title><r:Alt><r:li>Wrong</r:li></r:Alt></dc:title>
<d:title><r:Alt><r:li>Right</r:li></r:Alt></d:title></r:Description></r:RDF></x:xmpmeta>"#,
        );
        assert_eq!(xmp.and_then(|xmp| xmp.title), Some("Right".to_owned()));
    }

    #[test]
    fn broken_empty_or_hostile_packets_say_nothing() {
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"\xff\xfe not utf-8"), None);
        assert_eq!(parse(packet("<dc:title>").as_bytes()), None);
        assert_eq!(parse(packet("").as_bytes()), None);
        let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
        assert_eq!(parse(deep.as_bytes()), None);
        let many: String = (0..10_000)
            .map(|n| format!("<rdf:li>s{n}</rdf:li>"))
            .collect();
        let xmp = parse(
            packet(&format!(
                "<dc:subject><rdf:Bag>{many}</rdf:Bag></dc:subject>"
            ))
            .as_bytes(),
        );
        assert_eq!(xmp.map(|xmp| xmp.subjects.len()), Some(MAX_ITEMS));
    }
}
