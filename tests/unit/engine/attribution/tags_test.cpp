#include "engine/attribution/tags.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace warden::engine {
namespace {

using Strings = std::vector<std::string>;

Strings tagsOf(std::string_view path, const Strings& argv, const Strings* env,
               std::string_view cgroup, std::string_view cwd = "/") {
  TagInput input;
  input.path = path;
  input.argv = &argv;
  input.env = env;
  input.cwd = cwd;
  input.cgroupPath = cgroup;
  return computeTags(input);
}

TEST(Tags, PlainProgramInAServiceHasOnlyTheUnit) {
  EXPECT_EQ(tagsOf("/usr/sbin/nginx", {"nginx", "-g", "daemon off;"}, nullptr,
                   "/system.slice/nginx.service"),
            Strings{"systemd:nginx.service"});
}

TEST(Tags, UserServiceIsTheInnermostUnit) {
  EXPECT_EQ(systemdUnit("/user.slice/user-1000.slice/user@1000.service/app.slice/"
                        "syncthing.service"),
            "syncthing.service");
  EXPECT_EQ(systemdUnit("/user.slice/user-1000.slice/session-3.scope"), "session-3.scope");
  EXPECT_EQ(systemdUnit("/"), std::nullopt);
  EXPECT_EQ(systemdUnit(""), std::nullopt);
}

TEST(Tags, FlatpakFromTheScopeOrTheEnvironment) {
  const std::string cgroup =
      "/user.slice/user-1000.slice/user@1000.service/app.slice/"
      "app-flatpak-org.mozilla.firefox-1234.scope";
  EXPECT_EQ(flatpakAppId(cgroup, nullptr), "org.mozilla.firefox");
  const Strings env = {"HOME=/home/a", "FLATPAK_ID=org.gnome.Maps"};
  EXPECT_EQ(flatpakAppId("/user.slice", &env), "org.gnome.Maps");
  EXPECT_EQ(flatpakAppId("/user.slice", nullptr), std::nullopt);
  const auto tags = tagsOf("/app/lib/firefox/firefox", {"firefox"}, nullptr, cgroup);
  EXPECT_EQ(tags, (Strings{"flatpak:org.mozilla.firefox",
                           "systemd:app-flatpak-org.mozilla.firefox-1234.scope"}));
}

TEST(Tags, SnapFromScopeServiceEnvironmentOrPath) {
  EXPECT_EQ(snapName("/snap/firefox/2000/usr/lib/firefox/firefox",
                     "/user.slice/user-1000.slice/user@1000.service/app.slice/"
                     "snap.firefox.firefox-0f1e2d3c-aaaa-bbbb-cccc-000000000000.scope",
                     nullptr),
            "firefox");
  EXPECT_EQ(snapName("/usr/bin/x", "/system.slice/snap.lxd.daemon.service", nullptr), "lxd");
  const Strings env = {"SNAP_NAME=spotify"};
  EXPECT_EQ(snapName("/usr/bin/x", "/", &env), "spotify");
  EXPECT_EQ(snapName("/snap/core22/100/usr/bin/python3", "/", nullptr), "core22");
  EXPECT_EQ(snapName("/usr/bin/snapper", "/", nullptr), std::nullopt);
}

TEST(Tags, AppImageNeedsTheRuntimeVariables) {
  const Strings env = {"APPIMAGE=/home/a/Apps/Obsidian.AppImage", "APPDIR=/tmp/.mount_ObsidXyz"};
  EXPECT_EQ(appImagePath("/tmp/.mount_ObsidXyz/obsidian", &env), "/home/a/Apps/Obsidian.AppImage");
  const Strings onlyImage = {"APPIMAGE=/x.AppImage"};
  EXPECT_EQ(appImagePath("/usr/bin/curl", &onlyImage), std::nullopt);
  EXPECT_EQ(appImagePath("/tmp/.mount_ObsidXyz/obsidian", nullptr), std::nullopt);
}

TEST(Tags, ContainerIdsOfTheCommonRuntimes) {
  const std::string id(64, 'a');
  const std::string hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  EXPECT_EQ(containerId("/docker/" + hex), hex);
  EXPECT_EQ(containerId("/system.slice/docker-" + hex + ".scope"), hex);
  EXPECT_EQ(containerId("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/"
                        "cri-containerd-" +
                        hex + ".scope"),
            hex);
  EXPECT_EQ(containerId("/machine.slice/libpod-" + hex + ".scope/container"), hex);
  EXPECT_EQ(containerId("/kubepods/besteffort/pod123/" + hex), hex);
  EXPECT_EQ(containerId("/lxc.payload.web1"), "web1");
  EXPECT_EQ(containerId("/lxc/db"), "db");
  EXPECT_EQ(containerId("/system.slice/docker.service"), std::nullopt);
  EXPECT_EQ(containerId("/docker/" + hex.substr(0, 63)), std::nullopt);  // too short
  // A container scope is not reported as a systemd unit.
  EXPECT_EQ(systemdUnit("/system.slice/docker-" + hex + ".scope"), std::nullopt);
}

TEST(Tags, AllAtOnceInAFixedOrder) {
  const std::string hex(64, 'f');
  const Strings env = {"FLATPAK_ID=org.x.App", "SNAP_NAME=x"};
  const auto tags = tagsOf("/usr/bin/python3", {"python3", "main.py"}, &env,
                           "/system.slice/docker-" + hex + ".scope", "/app");
  EXPECT_EQ(tags,
            (Strings{"flatpak:org.x.App", "snap:x", "container:" + hex, "script:/app/main.py"}));
}

TEST(Tags, UnknownEnvironmentGivesNoEnvironmentTags) {
  const auto tags = tagsOf("/usr/bin/x", {"x"}, nullptr, "/");
  EXPECT_TRUE(tags.empty());
}

}  // namespace
}  // namespace warden::engine
