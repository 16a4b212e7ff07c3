// The catalogue's SQL schema, as the migrations that build it: schema version N is reached by
// running migration N on version N - 1 (Catalogue::Migrate, one transaction each). A schema
// change is a new migration here and Catalogue::kSchemaVersion raised to match.
#ifndef MOE_SERVER_CATALOGUE_SCHEMA_H_
#define MOE_SERVER_CATALOGUE_SCHEMA_H_

namespace moe::server {

// The SQL of migration `version` (1 .. Catalogue::kSchemaVersion, which a static_assert keeps
// equal to the number of migrations).
const char* CatalogueMigration(int version);

}  // namespace moe::server

#endif  // MOE_SERVER_CATALOGUE_SCHEMA_H_
