//! Object keys: chosen by the server from ids only, so no user-supplied name ever
//! reaches a key. Clients only ever get a URL for a staging key ([`upload_staging_key`]);
//! a score's own objects ([`score_object_key`], [`thumbnail_object_key`]) are written by
//! the server alone, so confirmed bytes cannot change.

use uuid::Uuid;

/// Key of a score's original PDF.
#[must_use]
pub fn score_object_key(user_id: Uuid, score_id: Uuid) -> String {
    format!("{user_id}/scores/{score_id}/original.pdf")
}

/// Key of a score's rendered thumbnail.
#[must_use]
pub fn thumbnail_object_key(user_id: Uuid, score_id: Uuid) -> String {
    format!("{user_id}/scores/{score_id}/thumbnail.png")
}

/// The prefix under which a score's page previews live, one object per page and width:
/// deleting the score deletes everything under it.
#[must_use]
pub fn page_previews_prefix(user_id: Uuid, score_id: Uuid) -> String {
    format!("{user_id}/scores/{score_id}/pages/")
}

/// Key of page `page` of a score rendered `width` pixels wide (`GET
/// /scores/{id}/pages/{n}/thumbnail`), rendered on demand and kept.
#[must_use]
pub fn page_preview_key(user_id: Uuid, score_id: Uuid, page: u32, width: u32) -> String {
    format!(
        "{}{page}/w{width}.png",
        page_previews_prefix(user_id, score_id)
    )
}

/// The one prefix under which clients may write: the staging keys of uploads in flight.
/// Nothing else lives there, so the upload sweep can list it.
pub const UPLOAD_STAGING_PREFIX: &str = "uploads/";

/// Where the client PUTs the bytes of upload `upload_id`: the only key a presigned PUT is
/// ever signed for. The confirmation copies it to the score's own key
/// ([`score_object_key`]), which no client has a URL for.
#[must_use]
pub fn upload_staging_key(user_id: Uuid, upload_id: Uuid) -> String {
    format!("{UPLOAD_STAGING_PREFIX}{user_id}/{upload_id}")
}

/// The user and upload ids of a staging key, for keys exactly as [`upload_staging_key`]
/// writes them; `None` for anything else under the prefix.
#[must_use]
pub fn parse_upload_staging_key(key: &str) -> Option<(Uuid, Uuid)> {
    let (user, upload) = key.strip_prefix(UPLOAD_STAGING_PREFIX)?.split_once('/')?;
    let ids = (Uuid::parse_str(user).ok()?, Uuid::parse_str(upload).ok()?);
    (upload_staging_key(ids.0, ids.1) == key).then_some(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_are_built_from_ids_only() {
        let user = Uuid::nil();
        let score = Uuid::max();
        assert_eq!(
            score_object_key(user, score),
            format!("{user}/scores/{score}/original.pdf")
        );
        assert_eq!(
            thumbnail_object_key(user, score),
            format!("{user}/scores/{score}/thumbnail.png")
        );
        assert_eq!(
            upload_staging_key(user, score),
            format!("uploads/{user}/{score}")
        );
    }

    #[test]
    fn a_staging_key_gives_back_its_ids() {
        let (user, upload) = (Uuid::now_v7(), Uuid::now_v7());
        let key = upload_staging_key(user, upload);
        assert_eq!(parse_upload_staging_key(&key), Some((user, upload)));
    }

    #[test]
    fn only_canonical_staging_keys_parse() {
        let (user, upload) = (Uuid::now_v7(), Uuid::now_v7());
        for key in [
            format!("uploads/{user}/{upload}.pdf"),
            format!("uploads/{user}/{upload}/x"),
            format!("uploads/{}/{upload}", user.to_string().to_uppercase()),
            format!("uploads/{}/{upload}", user.simple()),
            format!("{user}/{upload}"),
            format!("uploads/{user}"),
            "uploads/".to_owned(),
        ] {
            assert_eq!(parse_upload_staging_key(&key), None, "{key}");
        }
    }
}
