/**
 * Where a node keeps what it is given and what it learns, in one place: keel-init writes these
 * (from a seed, in early boot) and keel-agent reads them, so the two can never disagree on a path.
 * Everything under /var/lib/keel is on the data partition; /run is tmpfs; /etc is the read-only image.
 */

/** The machine config (network, instance, hostname, bootstrap token). */
export const configDir = "/var/lib/keel/config"
export const networkFile = `${configDir}/network.json`
export const instanceFile = `${configDir}/instance-id`
export const hostnameFile = `${configDir}/hostname`
export const bootstrapTokenFile = `${configDir}/bootstrap-token`

/** The agent's PKI: the cluster CA clients must be signed by, and the node's certificate and key. */
export const pkiDir = "/var/lib/keel/pki"
export const caFile = `${pkiDir}/ca.crt`
export const certFile = `${pkiDir}/node.crt`
export const keyFile = `${pkiDir}/node.key`

/** The resolver configuration keel-init writes; the image's /etc/resolv.conf points here. */
export const resolvConf = "/run/keel/resolv.conf"

/** The keys the image accepts releases from. */
export const trustedKeysFile = "/etc/keel/trusted-keys.json"

/** Written by keel-init when it boots the slot in maintenance mode (boot-loop protection): "<slot> <unstable boots>". */
export const maintenanceFlag = "/run/keel/maintenance"

/** keel-init's DHCP client writes each link's lease here (`<link>.json`); the agent reports them. */
export const dhcpLeaseDir = "/run/keel/dhcp"
export const dhcpLeaseFile = (link: string) => `${dhcpLeaseDir}/${link}.json`

/** The channel watch from the seed (`keelos.update`); when present the agent takes it over the image's. */
export const updateWatchFile = `${configDir}/update.json`

/** The last DHCP lease of each link (`dhcp-<link>.json`), kept across reboots for INIT-REBOOT. */
export const dhcpRememberedDir = "/var/lib/keel/network"
