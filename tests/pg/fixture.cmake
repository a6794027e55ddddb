# The pgvector test server as a CTest fixture (DESIGN.md §3.4), included by CMakeLists.txt.
# pg_server_start starts PGlite+pgvector (or checks CLIPSEARCH_TEST_PG_URL) once per ctest
# run and writes the URL to ${CS_PG_STATE}/url; pg_server_stop ends it. Every test that
# needs it requires the fixture and takes RESOURCE_LOCK pg: PGlite has one backend for all
# connections, so tests must not interleave.
set(CS_PG_STATE ${CMAKE_BINARY_DIR}/pg)
set(CS_PG_DIR ${CMAKE_SOURCE_DIR}/tests/pg)

add_test(NAME pg_server_start COMMAND bash ${CS_PG_DIR}/start.sh ${CS_PG_STATE})
set_tests_properties(pg_server_start PROPERTIES FIXTURES_SETUP pg_server TIMEOUT 400
  ENVIRONMENT "${CS_TEST_ENV}")
add_test(NAME pg_server_stop COMMAND bash ${CS_PG_DIR}/stop.sh ${CS_PG_STATE})
set_tests_properties(pg_server_stop PROPERTIES FIXTURES_CLEANUP pg_server TIMEOUT 60)

# Registers a test that runs COMMAND with CS_TEST_DB_URL of the fixture's server.
function(cs_pg_test name)
  add_test(NAME ${name} COMMAND bash ${CS_PG_DIR}/run-with-url.sh ${CS_PG_STATE} ${ARGN}
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${CS_TEST_ENV}" TIMEOUT 600
    SKIP_RETURN_CODE 77 FIXTURES_REQUIRED pg_server RESOURCE_LOCK pg LABELS pg)
endfunction()

# The shared store suite (normally against a temp SQLite file) against PostgreSQL.
if(TARGET test_store_suite)
  cs_pg_test(store_suite_pg $<TARGET_FILE:test_store_suite>)
endif()
# Out-of-memory fault injection over the store scenario through the PostgreSQL backend
# (tests/unit/test_fault_alloc.c runs only that scenario when it has a server URL).
if(TARGET test_fault_alloc)
  cs_pg_test(fault_alloc_pg $<TARGET_FILE:test_fault_alloc>)
endif()
# Integration scripts that honour CS_TEST_DB_URL (vec_cli.sh, search_*.sh, index_*.sh via
# index_common.bash) also run against PostgreSQL as <name>_pg, with their labels (no-asan).
file(GLOB cs_pg_shell ${CMAKE_SOURCE_DIR}/tests/integration/*.sh)
foreach(src ${cs_pg_shell})
  get_filename_component(n ${src} NAME_WE)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${src})
  file(READ ${src} body)
  if(NOT n MATCHES "_pg$" AND (body MATCHES "CS_TEST_DB_URL" OR body MATCHES "index_common[.]bash"))
    cs_pg_test(${n}_pg bash ${src})
    get_test_property(${n} LABELS labels)
    if(labels)
      set_property(TEST ${n}_pg APPEND PROPERTY LABELS ${labels})
    endif()
    # The indexer's kill/SIGINT tests are slow under ASan (a minute together on 2 cores);
    # their SQLite variants run there, the PostgreSQL variants in the release build.
    if(n MATCHES "^index_(kill|sigint)$")
      set_property(TEST ${n}_pg APPEND PROPERTY LABELS no-asan)
    endif()
    list(APPEND cs_pg_wrapped ${n}_pg)
  endif()
endforeach()
# Interop with vecs' layout: raw SQL the way vecs writes and reads, against the CLI.
if(EXISTS ${CS_PG_DIR}/interop.sh)
  cs_pg_test(vecs_interop_pg bash ${CS_PG_DIR}/interop.sh)
endif()

# The same vec commands against SQLite and PostgreSQL must print the same results.
find_program(CS_PYTHON3 python3)
if(CS_PYTHON3)
  cs_pg_test(vec_backends_agree_pg ${CS_PYTHON3} ${CS_PG_DIR}/backends_agree.py)
endif()

# Tests that are PostgreSQL-only by name (tests/unit/test_*_pg.c, tests/integration/*_pg.sh,
# registered by CMakeLists.txt): their command cannot be wrapped, so they get the URL file's
# path and read it themselves (they skip without it).
get_property(cs_all_tests DIRECTORY ${CMAKE_SOURCE_DIR} PROPERTY TESTS)
foreach(t ${cs_all_tests})
  list(FIND cs_pg_wrapped ${t} wrapped)
  if(t MATCHES "_pg$" AND wrapped EQUAL -1 AND
     NOT t MATCHES "^(store_suite_pg|fault_alloc_pg|vecs_interop_pg|vec_backends_agree_pg)$")
    set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT "CS_PG_URL_FILE=${CS_PG_STATE}/url")
    set_tests_properties(${t} PROPERTIES FIXTURES_REQUIRED pg_server RESOURCE_LOCK pg
      LABELS pg)
  endif()
endforeach()
