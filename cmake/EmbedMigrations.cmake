# Compiles migrations/<module>/NNNN_name.sql into the binary, so a deployed
# ticketd carries exactly the schema it expects. Re-run on any change.
file(GLOB_RECURSE TICKETD_MIGRATION_FILES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/migrations/*.sql)
set(TICKETD_EMBEDDED_MIGRATIONS_CPP ${PROJECT_BINARY_DIR}/generated/embedded_migrations.cpp)
add_custom_command(
  OUTPUT ${TICKETD_EMBEDDED_MIGRATIONS_CPP}
  COMMAND ${CMAKE_COMMAND} -DSRC=${PROJECT_SOURCE_DIR}/migrations -DOUT=${TICKETD_EMBEDDED_MIGRATIONS_CPP}
          -P ${PROJECT_SOURCE_DIR}/cmake/GenerateMigrations.cmake
  DEPENDS ${TICKETD_MIGRATION_FILES} ${PROJECT_SOURCE_DIR}/cmake/GenerateMigrations.cmake
  COMMENT "Embedding SQL migrations")
