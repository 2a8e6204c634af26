# Compiler settings shared by every target: warnings as errors, sanitizers, ccache.
find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  # PCH and __DATE__-free sources make these sloppiness settings safe.
  set(CMAKE_CXX_COMPILER_LAUNCHER
      ${CMAKE_COMMAND} -E env
      CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
      ${CCACHE_PROGRAM})
endif()

add_library(ticketd_warnings INTERFACE)
target_compile_options(ticketd_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Werror
  -Wshadow -Wnon-virtual-dtor -Wcast-align -Woverloaded-virtual
  -Wimplicit-fallthrough -Wmissing-declarations
  # GCC 12 reports Asio's awaitable frames (own operator new/delete) as
  # mismatched in coroutine lambdas at -O1; a known false positive.
  -Wno-mismatched-new-delete)

add_library(ticketd_options INTERFACE)
target_compile_definitions(ticketd_options INTERFACE
  BOOST_ASIO_NO_DEPRECATED
  BOOST_BEAST_SEPARATE_COMPILATION
  BOOST_ASIO_SEPARATE_COMPILATION
  BOOST_JSON_NO_LIB)
if(TICKETD_SANITIZE)
  target_compile_options(ticketd_options INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(ticketd_options INTERFACE -fsanitize=address,undefined)
endif()
if(TICKETD_TSAN)
  # GCC 12 warns (-Wtsan) on the atomic_thread_fence in Asio's std_fenced_block;
  # TSan does not model fences, and Asio's synchronisation there is a mutex.
  target_compile_options(ticketd_options INTERFACE -fsanitize=thread -fno-omit-frame-pointer
                         $<$<CXX_COMPILER_ID:GNU>:-Wno-tsan>)
  target_link_options(ticketd_options INTERFACE -fsanitize=thread)
  # librdkafka's C11 threads routed to pthread_* (see the file).
  add_library(ticketd_tsan_c11 STATIC ${PROJECT_SOURCE_DIR}/cmake/tsan_c11_threads.cpp)
  target_compile_options(ticketd_tsan_c11 PRIVATE -fsanitize=thread)
  target_link_libraries(ticketd_options INTERFACE "$<LINK_LIBRARY:WHOLE_ARCHIVE,ticketd_tsan_c11>")
endif()
