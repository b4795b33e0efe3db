# Install rules for everything beside the binary, and the Debian package that CPack builds from
# them: run `cpack -G DEB` in the build directory. Included from the top-level CMakeLists.txt;
# the binary's own rule is in app/CMakeLists.txt.

# The systemd unit and the example config, with paths that follow the install prefix.
install(CODE "set(TGSEARCH_BINARY_DIR \"${PROJECT_BINARY_DIR}\")")
install(SCRIPT "${CMAKE_CURRENT_LIST_DIR}/install_service.cmake")

# README.md links to docs/*.md by relative paths, so the docs keep that layout.
file(GLOB tgsearch_doc_pages CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/docs/*.md")
install(FILES "${PROJECT_SOURCE_DIR}/README.md" "${PROJECT_SOURCE_DIR}/LICENSE"
  DESTINATION share/doc/tgsearch)
# Debian policy 4.6.2 (section 4.5) requires the license in /usr/share/doc/<package>/copyright
# as well.
install(FILES "${PROJECT_SOURCE_DIR}/LICENSE" DESTINATION share/doc/tgsearch RENAME copyright)
install(FILES ${tgsearch_doc_pages} DESTINATION share/doc/tgsearch/docs)

# The package version adds the commit's date and hash to the project version when the source
# is a git checkout, so that a package built from a later commit upgrades the installed one.
# The date comes first because dpkg compares versions from the left.
set(tgsearch_package_version "${PROJECT_VERSION}")
find_package(Git QUIET)
if(GIT_FOUND AND EXISTS "${PROJECT_SOURCE_DIR}/.git")
  # safe.directory lets git read a checkout that another user owns, as when root packages a
  # clone of an unprivileged user; git 2.35.2 and later refuse that with "dubious ownership".
  execute_process(
    COMMAND "${CMAKE_COMMAND}" -E env TZ=UTC
            "${GIT_EXECUTABLE}" -c "safe.directory=${PROJECT_SOURCE_DIR}"
            log -1 --format=%cd.%h --date=format-local:%Y%m%d%H%M%S
    WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}"
    OUTPUT_VARIABLE tgsearch_commit
    OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE tgsearch_git_result
    ERROR_VARIABLE tgsearch_git_error
    ERROR_STRIP_TRAILING_WHITESPACE)
  if(tgsearch_git_result EQUAL 0 AND tgsearch_commit MATCHES "^[0-9]+\\.[0-9a-f]+$")
    set(tgsearch_package_version "${PROJECT_VERSION}+git${tgsearch_commit}")
  else()
    message(WARNING
      "git log failed in ${PROJECT_SOURCE_DIR} (exit status ${tgsearch_git_result}: "
      "${tgsearch_git_error}${tgsearch_commit}), so the package version is ${PROJECT_VERSION} "
      "without the commit date. dpkg will not install such a package over one built from a "
      "later commit, so an upgrade would install nothing. Fix git access to the checkout, for "
      "example its ownership, and configure again.")
  endif()
endif()

set(TGSEARCH_PACKAGE_MAINTAINER "The tgsearch authors <tgsearch@localhost>"
  CACHE STRING "Maintainer field of the Debian package: Name <email>")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tgsearch)
set(CPACK_PACKAGE_VERSION "${tgsearch_package_version}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Telegram bot that searches a corpus of documents")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Installing with DESTDIR and the prefix /usr, as `DESTDIR=... cmake --install --prefix /usr`
# does, is what lets install_service.cmake put the config in /etc.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
  OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

set(CPACK_DEBIAN_PACKAGE_NAME tgsearch)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${TGSEARCH_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The extended description, below the summary line. CPack indents it as dpkg expects.
# lintian allows 80 characters per line, the leading space included.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
  "tgsearch indexes JSONL, CSV and TSV files, folders of text and Markdown files
and Telegram Desktop exports in memory, and answers searches from private
chats, groups and inline queries with BM25-ranked results. The package
installs the systemd service tgsearch.service disabled, to be enabled once the
bot token is in /etc/tgsearch/token.")
# dpkg-shlibdeps adds the shared libraries to Depends. The maintainer scripts need adduser, and
# the unit's ExecReload runs /bin/kill from procps.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, procps")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "redis-server")

set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  "${CMAKE_CURRENT_LIST_DIR}/conffiles"
  "${CMAKE_CURRENT_LIST_DIR}/postinst"
  "${CMAKE_CURRENT_LIST_DIR}/prerm"
  "${CMAKE_CURRENT_LIST_DIR}/postrm")
# Mode 0755 for the scripts and 0644 for conffiles, whatever the checkout's modes are.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
