"""Every GraphQL document the Railway providers can send, in one place.

Why one module: the schema test (tests/railway/test_railway_documents.py) iterates over
``ALL_DOCUMENTS`` and validates each against Railway's published schema, so a
renamed field or a wrong input type fails the build instead of a ``pulumi up``.
Nothing outside this module builds a query string.
"""

from __future__ import annotations

# --- projects -----------------------------------------------------------------

PROJECT_GET = """
query CoachdbProjectGet($id: String!) {
  project(id: $id) {
    id
    name
    description
    workspaceId
    environments { edges { node { id name } } }
  }
}
"""

PROJECTS_LIST = """
query CoachdbProjectsList($workspaceId: String) {
  projects(workspaceId: $workspaceId, first: 500) {
    edges { node { id name workspaceId environments { edges { node { id name } } } } }
  }
}
"""

WORKSPACES_LIST = """
query CoachdbWorkspaces {
  me { workspaces { id name } }
}
"""

PROJECT_CREATE = """
mutation CoachdbProjectCreate($input: ProjectCreateInput!) {
  projectCreate(input: $input) {
    id
    name
    description
    workspaceId
    environments { edges { node { id name } } }
  }
}
"""

PROJECT_UPDATE = """
mutation CoachdbProjectUpdate($id: String!, $input: ProjectUpdateInput!) {
  projectUpdate(id: $id, input: $input) { id name description }
}
"""

PROJECT_DELETE = """
mutation CoachdbProjectDelete($id: String!) {
  projectDelete(id: $id)
}
"""

# --- environments -------------------------------------------------------------

ENVIRONMENT_GET = """
query CoachdbEnvironmentGet($id: String!) {
  environment(id: $id) {
    id
    name
    projectId
    serviceInstances { edges { node { id serviceId serviceName } } }
  }
}
"""

ENVIRONMENT_CREATE = """
mutation CoachdbEnvironmentCreate($input: EnvironmentCreateInput!) {
  environmentCreate(input: $input) { id name projectId }
}
"""

ENVIRONMENT_DELETE = """
mutation CoachdbEnvironmentDelete($id: String!) {
  environmentDelete(id: $id)
}
"""

# --- services -----------------------------------------------------------------

SERVICE_CREATE = """
mutation CoachdbServiceCreate($input: ServiceCreateInput!) {
  serviceCreate(input: $input) { id name projectId }
}
"""

SERVICE_UPDATE = """
mutation CoachdbServiceUpdate($id: String!, $input: ServiceUpdateInput!) {
  serviceUpdate(id: $id, input: $input) { id name }
}
"""

SERVICE_DELETE = """
mutation CoachdbServiceDelete($id: String!, $environmentId: String) {
  serviceDelete(id: $id, environmentId: $environmentId)
}
"""

SERVICE_INSTANCE_GET = """
query CoachdbServiceInstanceGet($serviceId: String!, $environmentId: String!) {
  serviceInstance(serviceId: $serviceId, environmentId: $environmentId) {
    id
    serviceId
    serviceName
    environmentId
    startCommand
    restartPolicyType
    restartPolicyMaxRetries
    region
    source { image }
  }
}
"""

SERVICE_INSTANCE_UPDATE = """
mutation CoachdbServiceInstanceUpdate(
  $serviceId: String!, $environmentId: String, $input: ServiceInstanceUpdateInput!
) {
  serviceInstanceUpdate(serviceId: $serviceId, environmentId: $environmentId, input: $input)
}
"""

SERVICE_INSTANCE_DEPLOY = """
mutation CoachdbServiceInstanceDeploy($serviceId: String!, $environmentId: String!) {
  serviceInstanceDeployV2(serviceId: $serviceId, environmentId: $environmentId)
}
"""

DEPLOYMENT_GET = """
query CoachdbDeploymentGet($id: String!) {
  deployment(id: $id) { id status serviceId environmentId }
}
"""

DEPLOYMENTS_LIST = """
query CoachdbDeploymentsList($input: DeploymentListInput!) {
  deployments(input: $input, first: 20) { edges { node { id status createdAt } } }
}
"""

DEPLOYMENT_LOGS = """
query CoachdbDeploymentLogs($deploymentId: String!, $limit: Int) {
  deploymentLogs(deploymentId: $deploymentId, limit: $limit) { timestamp message severity }
}
"""

# --- volumes ------------------------------------------------------------------

VOLUME_CREATE = """
mutation CoachdbVolumeCreate($input: VolumeCreateInput!) {
  volumeCreate(input: $input) { id name projectId }
}
"""


VOLUME_INSTANCES_GET = """
query CoachdbVolumeInstancesGet($environmentId: String!) {
  environment(id: $environmentId) {
    id
    volumeInstances {
      edges { node { id volumeId serviceId mountPath environmentId region } }
    }
  }
}
"""

VOLUME_INSTANCE_UPDATE = """
mutation CoachdbVolumeInstanceUpdate(
  $volumeId: String!, $environmentId: String, $input: VolumeInstanceUpdateInput!
) {
  volumeInstanceUpdate(volumeId: $volumeId, environmentId: $environmentId, input: $input)
}
"""

VOLUME_DELETE = """
mutation CoachdbVolumeDelete($volumeId: String!) {
  volumeDelete(volumeId: $volumeId)
}
"""

VOLUME_BACKUP_SCHEDULES_GET = """
query CoachdbVolumeBackupSchedulesGet($volumeInstanceId: String!) {
  volumeInstanceBackupScheduleList(volumeInstanceId: $volumeInstanceId) { id kind cron }
}
"""

VOLUME_BACKUP_SCHEDULES_SET = """
mutation CoachdbVolumeBackupSchedulesSet(
  $volumeInstanceId: String!, $kinds: [VolumeInstanceBackupScheduleKind!]!
) {
  volumeInstanceBackupScheduleUpdate(volumeInstanceId: $volumeInstanceId, kinds: $kinds)
}
"""

# --- variables ----------------------------------------------------------------

VARIABLES_GET = """
query CoachdbVariablesGet($projectId: String!, $environmentId: String!, $serviceId: String) {
  variables(
    projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId, unrendered: true
  )
}
"""

SERVICE_VARIABLES_RENDERED = """
query CoachdbServiceVariablesRendered(
  $projectId: String!, $environmentId: String!, $serviceId: String
) {
  variables(projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId)
}
"""

VARIABLES_UPSERT = """
mutation CoachdbVariablesUpsert($input: VariableCollectionUpsertInput!) {
  variableCollectionUpsert(input: $input)
}
"""

VARIABLE_DELETE = """
mutation CoachdbVariableDelete($input: VariableDeleteInput!) {
  variableDelete(input: $input)
}
"""

# --- TCP proxy ----------------------------------------------------------------

TCP_PROXIES_GET = """
query CoachdbTcpProxiesGet($serviceId: String!, $environmentId: String!) {
  tcpProxies(serviceId: $serviceId, environmentId: $environmentId) {
    id domain proxyPort applicationPort serviceId environmentId syncStatus deletedAt
  }
}
"""

# Railway's CLI creates proxies as a staged environment change, committed at
# once (tcpProxyCreate is deprecated: "use staged changes and apply them").
ENVIRONMENT_PATCH_COMMIT = """
mutation CoachdbEnvironmentPatchCommit(
  $environmentId: String!, $patch: EnvironmentConfig!, $commitMessage: String
) {
  environmentPatchCommit(
    environmentId: $environmentId, patch: $patch, commitMessage: $commitMessage
  )
}
"""

TCP_PROXY_DELETE = """
mutation CoachdbTcpProxyDelete($id: String!) {
  tcpProxyDelete(id: $id)
}
"""

ALL_DOCUMENTS: dict[str, str] = {
    name: value
    for name, value in sorted(globals().items())
    if name.isupper()
    and isinstance(value, str)
    and value.lstrip().startswith(("query", "mutation"))
}
"""Name -> document, for the schema test and the fake server's allow-list."""
