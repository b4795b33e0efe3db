# Installs the systemd unit and the example config. It runs at install time through
# install(SCRIPT), because `cmake --install --prefix` may choose the prefix after configuring.
# Prefix /usr puts the config in /etc/tgsearch, as a Debian package does; any other prefix puts
# it in <prefix>/etc/tgsearch, and the unit's /usr/bin and /etc/tgsearch paths are rewritten to
# match. The unit goes to <prefix>/lib/systemd/system, which systemd reads for /usr and
# /usr/local.

set(tgsearch_dist_dir "${CMAKE_CURRENT_LIST_DIR}")
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(tgsearch_config_dir "/etc/tgsearch")
else()
  set(tgsearch_config_dir "${CMAKE_INSTALL_PREFIX}/etc/tgsearch")
endif()

file(READ "${tgsearch_dist_dir}/tgsearch.service" tgsearch_unit)
string(REPLACE "/usr/bin/tgsearch" "${CMAKE_INSTALL_PREFIX}/bin/tgsearch" tgsearch_unit
  "${tgsearch_unit}")
string(REPLACE "/usr/share/doc/tgsearch" "${CMAKE_INSTALL_PREFIX}/share/doc/tgsearch"
  tgsearch_unit "${tgsearch_unit}")
string(REPLACE "/etc/tgsearch/" "${tgsearch_config_dir}/" tgsearch_unit "${tgsearch_unit}")

# file(INSTALL) copies a file under its own name, so the rewritten unit is staged in a
# directory of its own first.
set(tgsearch_staging_dir "${TGSEARCH_BINARY_DIR}/dist-staging")
file(WRITE "${tgsearch_staging_dir}/tgsearch.service" "${tgsearch_unit}")
file(INSTALL "${tgsearch_staging_dir}/tgsearch.service"
  DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system"
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# NOTE: without app/dist/tgsearch.toml the install has no example config, and the unit's
# --config path names a file that does not exist.
if(EXISTS "${tgsearch_dist_dir}/tgsearch.toml")
  file(INSTALL "${tgsearch_dist_dir}/tgsearch.toml"
    DESTINATION "${tgsearch_config_dir}"
    PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
else()
  message(WARNING "${tgsearch_dist_dir}/tgsearch.toml is missing: installing no example config")
endif()
