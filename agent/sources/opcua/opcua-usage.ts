/** The `edge-agent opcua` lines of the usage text; kept apart so printing it does not load node-opcua. */
export const OPCUA_USAGE = `  edge-agent opcua trust (--config FILE | --pki DIR) [CERT]
                                          list rejected server certificates, or trust one
                                          (its file name or the start of its thumbprint)
  edge-agent opcua browse ENDPOINT (--config FILE | --pki DIR) [--security-mode M]
                                          [--security-policy P] [--depth N]
                                          list variables with node id, type and value`;
