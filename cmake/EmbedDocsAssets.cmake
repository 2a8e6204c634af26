# third_party/swagger-ui (Swagger UI, vendored at a pinned version) → bytes in
# the binary, served by GET /docs/{asset}. The generated file pulls each asset
# in with the assembler's .incbin: byte-exact and no compile cost for 1.5 MB of
# JavaScript. It also records each asset's SHA-256 (the ETag), which keeps
# ccache honest: .incbin's bytes are not part of the preprocessed source.
set(TICKETD_DOCS_ASSETS_DIR ${PROJECT_SOURCE_DIR}/third_party/swagger-ui)
set(TICKETD_DOCS_ASSETS swagger-ui-bundle.js swagger-ui.css favicon-32x32.png)
set(TICKETD_DOCS_ASSETS_CPP ${PROJECT_BINARY_DIR}/generated/docs_assets.cpp)
set(_ticketd_docs_asset_paths)
foreach(_asset IN LISTS TICKETD_DOCS_ASSETS)
  list(APPEND _ticketd_docs_asset_paths ${TICKETD_DOCS_ASSETS_DIR}/${_asset})
endforeach()
string(REPLACE ";" "," _ticketd_docs_asset_arg "${TICKETD_DOCS_ASSETS}")
add_custom_command(
  OUTPUT ${TICKETD_DOCS_ASSETS_CPP}
  COMMAND ${CMAKE_COMMAND} -DDIR=${TICKETD_DOCS_ASSETS_DIR} -DASSETS=${_ticketd_docs_asset_arg} -DOUT=${TICKETD_DOCS_ASSETS_CPP}
          -P ${PROJECT_SOURCE_DIR}/cmake/embed_docs_assets.cmake
  DEPENDS ${_ticketd_docs_asset_paths} ${PROJECT_SOURCE_DIR}/cmake/embed_docs_assets.cmake
  COMMENT "Embedding the vendored Swagger UI")
