package record

// OriginHelm: an image a Helm chart of mirror.helm uses.
const OriginHelm Origin = "helm"

func init() { origins[OriginHelm] = true }
