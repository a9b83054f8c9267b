//! The database and the object store of the settings.

use eventstore::{Database, DatabaseOptions};
use objectstore::{CorsOrigins, EmbeddedS3, load_or_generate_credentials};
use objectstore::{ObjectStore, ObjectStoreConfig};

use super::error::StartupError;
use crate::settings::Settings;

/// Opens the configured database (creating the data dir for the embedded default).
pub async fn connect_database(settings: &Settings) -> Result<Database, StartupError> {
    std::fs::create_dir_all(&settings.data_dir).map_err(|source| StartupError::DataDir {
        path: settings.data_dir.display().to_string(),
        source,
    })?;
    let options = DatabaseOptions {
        max_connections: settings.database_max_connections,
        ..DatabaseOptions::default()
    };
    Ok(Database::connect(settings.database_url().expose(), &options).await?)
}

/// The object store of the settings: the external endpoint, or the embedded one started
/// here (returned so it lives as long as the server), open to the pages of `page_origins`.
pub async fn connect_object_store(
    settings: &Settings,
    page_origins: CorsOrigins,
) -> Result<(ObjectStore, Option<EmbeddedS3>), StartupError> {
    let (config, embedded) = if let Some(endpoint) = &settings.s3_endpoint {
        let (Some(key), Some(secret)) =
            (&settings.s3_access_key_id, &settings.s3_secret_access_key)
        else {
            return Err(StartupError::MissingS3Credentials);
        };
        let config = ObjectStoreConfig {
            endpoint: Some(endpoint.clone()),
            bucket: settings.s3_bucket.clone(),
            region: settings.s3_region.clone(),
            access_key_id: key.expose().to_owned(),
            secret_access_key: secret.expose().to_owned(),
            force_path_style: settings.s3_force_path_style.unwrap_or(true),
        };
        (config, None)
    } else {
        let (key, secret) = load_or_generate_credentials(&settings.data_dir).map_err(|source| {
            StartupError::DataDir {
                path: settings.data_dir.display().to_string(),
                source,
            }
        })?;
        let root = settings.data_dir.join("objects");
        let embedded = EmbeddedS3::start_with_limits(
            settings.embedded_s3_bind,
            &root,
            &key,
            &secret,
            page_origins,
            settings.connection_limits(),
        )
        .await?;
        let config = ObjectStoreConfig {
            endpoint: Some(embedded.endpoint_url()),
            bucket: settings.s3_bucket.clone(),
            region: settings.s3_region.clone(),
            access_key_id: key,
            secret_access_key: secret,
            force_path_style: true,
        };
        (config, Some(embedded))
    };
    let objects = ObjectStore::new(config);
    objects.ensure_bucket().await?;
    Ok((objects, embedded))
}
