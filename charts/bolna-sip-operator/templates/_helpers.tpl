{{/*
Names. Namespaced objects are "<fullname>" and "<fullname>-<part>"; cluster-scoped ones
(ClusterRoles, their bindings, the ClusterKopfPeering) carry the release namespace too,
so one release name can be installed in two namespaces without a clash.
*/}}
{{- define "bso.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "bso.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<fullname>-<suffix>", kept within 63 characters. */}}
{{- define "bso.component" -}}
{{- printf "%s-%s" (include "bso.fullname" .root | trunc (int (sub 62 (len .suffix))) | trimSuffix "-") .suffix }}
{{- end }}

{{- define "bso.clusterName" -}}
{{- printf "%s-%s" .Release.Namespace (include "bso.fullname" .) | trunc 253 | trimSuffix "-" }}
{{- end }}

{{- define "bso.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "bso.labels" -}}
helm.sh/chart: {{ include "bso.chart" . }}
app.kubernetes.io/name: {{ include "bso.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: bolna-sip-operator
{{- end }}

{{/* Selector labels of one component: operator or kamailio. */}}
{{- define "bso.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bso.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "bso.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "bso.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository@digest, else repository:tag (tag default: .default). */}}
{{- define "bso.image" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default .default .image.tag) }}
{{- end }}
{{- end }}

{{/* The Kopf peering name shared by the operator's replicas (--peering). */}}
{{- define "bso.peeringName" -}}
{{- include "bso.clusterName" . }}
{{- end }}

{{/* "true" when the operator watches every namespace. */}}
{{- define "bso.clusterwide" -}}
{{- if not .Values.watchNamespaces }}true{{ end }}
{{- end }}

{{- define "bso.kamailio.name" -}}
{{- include "bso.component" (dict "root" . "suffix" "kamailio") }}
{{- end }}

{{- define "bso.kamailio.listsName" -}}
{{- include "bso.component" (dict "root" . "suffix" "kamailio-lists") }}
{{- end }}

{{- define "bso.kamailio.agentName" -}}
{{- include "bso.component" (dict "root" . "suffix" "edge-agent") }}
{{- end }}

{{/* The lists' ConfigMaps: the chart's, then <name>-1 ... <name>-(shards-1). */}}
{{- define "bso.edge.configMaps" -}}
{{- $edge := . }}
{{- $names := list $edge.configMap }}
{{- range $index := untilStep 1 (int $edge.shards) 1 }}
{{- $names = append $names (printf "%s-%d" $edge.configMap $index) }}
{{- end }}
{{- $names | toJson }}
{{- end }}

{{- define "bso.kamailio.configName" -}}
{{- include "bso.component" (dict "root" . "suffix" "kamailio-config") }}
{{- end }}

{{/*
Where the edge the operator manages lives, as a dict: namespace, service, configMap,
rpcPort, agents (edge agents load the lists) and shards (ConfigMaps the lists may take).
Empty when the operator manages Bolna only.
*/}}
{{- define "bso.edge" -}}
{{- if .Values.kamailio.enabled }}
{{- $agents := eq .Values.kamailio.lists.delivery "agent" }}
{{- dict "namespace" .Release.Namespace "service" (include "bso.kamailio.name" .) "configMap" (include "bso.kamailio.listsName" .) "rpcPort" "rpc" "agents" $agents "shards" (ternary (int .Values.kamailio.lists.maxShards) 1 $agents) | toJson }}
{{- else if or .Values.kamailio.external.service .Values.kamailio.external.listsConfigMap }}
{{- $svc := splitList "/" (required "kamailio.external.service (NAMESPACE/NAME) is required with kamailio.external.listsConfigMap" .Values.kamailio.external.service) }}
{{- $cm := splitList "/" (required "kamailio.external.listsConfigMap (NAMESPACE/NAME) is required with kamailio.external.service" .Values.kamailio.external.listsConfigMap) }}
{{- if ne (index $svc 0) (index $cm 0) }}
{{- fail "kamailio.external.service and kamailio.external.listsConfigMap must be in the same namespace" }}
{{- end }}
{{- dict "namespace" (index $svc 0) "service" (index $svc 1) "configMap" (index $cm 1) "rpcPort" .Values.kamailio.external.rpcPortName "agents" false "shards" 1 | toJson }}
{{- else }}
{{- dict | toJson }}
{{- end }}
{{- end }}

{{/*
TLS towards carriers: where the tls module's files are mounted, as JSON. Each Secret's
mount path names the Secret, so a file Kamailio or the edge agent cannot load names the
Secret to fix in its log line.
*/}}
{{- define "bso.kamailio.tls" -}}
{{- $t := .Values.kamailio.tls -}}
{{- $certDir := printf "/etc/kamailio/tls/secret-%s" $t.certificateSecret -}}
{{- $caList := "/etc/ssl/certs/ca-certificates.crt" -}}
{{- if $t.caBundleSecret.name -}}
{{- $caList = printf "/etc/kamailio/tls/ca-secret-%s/%s" $t.caBundleSecret.name $t.caBundleSecret.key -}}
{{- end -}}
{{- dict "config" "/etc/kamailio/tls/config/tls.cfg" "certDir" $certDir
  "certificate" (printf "%s/tls.crt" $certDir) "key" (printf "%s/tls.key" $certDir)
  "caDir" (printf "/etc/kamailio/tls/ca-secret-%s" $t.caBundleSecret.name)
  "caList" $caList | toJson -}}
{{- end }}
