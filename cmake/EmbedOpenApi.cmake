# docs/openapi.yaml → JSON in a generated C++ file (GET /api/v1/openapi.json).
# Needs python3 with PyYAML (Debian: python3-yaml; tools/deps installs it).
find_package(Python3 REQUIRED COMPONENTS Interpreter)
execute_process(COMMAND ${Python3_EXECUTABLE} -c "import yaml" RESULT_VARIABLE _ticketd_pyyaml OUTPUT_QUIET ERROR_QUIET)
if(NOT _ticketd_pyyaml EQUAL 0)
  message(FATAL_ERROR "PyYAML is missing (${Python3_EXECUTABLE} -c 'import yaml' failed): run tools/deps (apt-get install python3-yaml)")
endif()
set(TICKETD_OPENAPI_CPP ${PROJECT_BINARY_DIR}/generated/openapi_json.cpp)
add_custom_command(
  OUTPUT ${TICKETD_OPENAPI_CPP}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/generated
  COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/cmake/openapi_to_cpp.py ${PROJECT_SOURCE_DIR}/docs/openapi.yaml
          ${TICKETD_OPENAPI_CPP}
  DEPENDS ${PROJECT_SOURCE_DIR}/docs/openapi.yaml ${PROJECT_SOURCE_DIR}/cmake/openapi_to_cpp.py
  COMMENT "Converting docs/openapi.yaml to JSON")
